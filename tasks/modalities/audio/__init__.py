"""Audio: decoding and containers, signal measures, operators (noise, effects, recordings), gallery.

modality.py is the module the contract (tasks/modalities/contract.py) is checked against;
ops*.py register this modality's operators."""
