"""The demo clip the app opens with: a line spoken by espeak-ng, lip-synced by the classic engine.

Shipping a recording would mean shipping someone's voice; synthesising it at
run time needs only espeak-ng, which the setup installs anyway.
"""

from __future__ import annotations

from mmface_studio.engine.request import GenerationRequest

DEMO_TEXT = ("Hello! I am the built-in head of MMFace Studio. Give me your lines, "
             "and maybe a mood, and I will bring them to life.")


def demo_request() -> GenerationRequest:
    """A generation request for the demo line (slightly happy, animated head motion)."""
    from mmface_studio.audio import clip_from_array
    from mmface_studio.audio.phonetic_espeak import synthesize

    speech = synthesize(DEMO_TEXT, voice="en-us", words_per_minute=160)
    clip = clip_from_array(speech.audio16k, 16000, name="demo line (espeak-ng)")
    return GenerationRequest(audio=clip, transcript=DEMO_TEXT, prompt="a friendly presenter",
                             emotion="happiness:0.45@0", pose_style="animated", pose_seed=1)
