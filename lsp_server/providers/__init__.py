"""Model providers: the only layer that talks to a model or stands in for one.

``openai.py`` speaks to OpenAI-compatible servers, ``offline.py`` is the embedded engine, and
``base.py`` is the protocol both implement.
"""
