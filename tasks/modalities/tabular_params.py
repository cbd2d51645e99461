"""params.yaml section `tabular:`: the knobs of the tabular modality (read when data.modality is tabular)."""

from tasks.params_base import Section


class TabularParams(Section):
    pass
