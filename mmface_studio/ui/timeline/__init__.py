"""The timeline: rows of time-based views sharing one time axis (ruler, markers, waveform, words, phones,
curve editors).

``timeline_view.TimelineView`` is the widget the main window embeds; the curve editors link their
X axis to its ``x_view_box()`` so that everything scrolls and zooms together. Every module here
only observes the Qt-free project document and edits it through commands on the undo stack.
"""
