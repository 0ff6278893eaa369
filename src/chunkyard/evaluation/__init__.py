"""Evaluation sets: a collection's questions, each answered by excerpts of its documents
(references), to score chunkings by what they retrieve (`questions.py`, `questions_csv.py`)."""
