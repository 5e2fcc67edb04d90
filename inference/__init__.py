"""Emotion recognition on videos: every person tracked, a timeline each (the Python API behind demo.py)."""

from inference.recognizer import Recognition, Recognizer

__all__ = ["Recognition", "Recognizer"]
