"""params.yaml section `text:`: the knobs of the text modality (read when data.modality is text)."""

from tasks.params_base import Section


class TextParams(Section):
    pass
