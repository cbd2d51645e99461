"""Text: reading, measures, lexicons, operators (word and character noise, paraphrase), review.

modality.py is the module the contract (tasks/modalities/contract.py) is checked against;
ops*.py register this modality's operators."""
