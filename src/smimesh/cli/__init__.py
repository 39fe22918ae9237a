"""Thin commands: parse arguments, call the library, format the answer. No logic of their own."""
