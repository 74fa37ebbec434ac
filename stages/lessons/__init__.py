"""The course's regression lessons: one neuron fits used-car prices and Celsius -> Fahrenheit.

Each lesson is a DVC stage (`python -m stages.lessons.NAME`) with its helpers beside it.
"""
