"""Tables: reading, schema, profile, quality, operators (SMOTE-like, copula), gallery.

modality.py is the module the contract (tasks/modalities/contract.py) is checked against;
ops*.py register this modality's operators."""
