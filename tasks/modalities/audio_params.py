"""params.yaml section `audio:`: the knobs of the audio modality (read when data.modality is audio)."""

from tasks.params_base import Section


class AudioParams(Section):
    pass
