"""Images: reading (folders, CSVs, COCO, YOLO, VOC, masks), checks, targets, operators, gallery.

modality.py is the module the contract (tasks/modalities/contract.py) is checked against;
ops*.py register this modality's operators."""
