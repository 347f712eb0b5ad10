"""Model providers: the only layer that talks to a model (``openai.py``) or stands in for one
(``offline.py``). ``base.py`` is the protocol both implement."""
