"""Synthetic training corpus: TTS speech with exact phone timing, classic-engine targets, hierarchical text.

Entry point: :func:`build_corpus` (the ``mmface-studio data synth`` command). See ``corpus`` for
how an example is made, ``shards`` for the files, ``voices`` for the synthesisers and held-out voices.
"""

from mmface_studio.training.synth.corpus import CorpusConfig, CorpusError, build_corpus, plan_corpus
from mmface_studio.training.synth.shards import ShardReader, open_shard, read_index

__all__ = ["CorpusConfig", "CorpusError", "ShardReader", "build_corpus", "open_shard", "plan_corpus", "read_index"]
