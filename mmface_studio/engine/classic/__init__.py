"""The classic phonetic engine: deterministic, no weights (visemes, coarticulation, FACS emotions,
blinks and gaze, prosody-driven head motion). Also the teacher for the synthetic training corpus."""
