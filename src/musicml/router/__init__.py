"""The intent router: which agents (DAW, Arranger) a music-production request needs.

Modules: :mod:`.examples` (the example table and its file format), :mod:`.library`
(template library and generation), :mod:`.paraphrase` (rule-based and LLM
paraphrasers), :mod:`.mixing` (real requests joined with generated ones),
:mod:`.validation` (consistency, balance, spot check), :mod:`.splits`,
:mod:`.encoder` (MiniLM sentence embeddings, torch and ONNX),
:mod:`.models` (TF-IDF baseline, embedding head, thresholds), :mod:`.scoring`
(metrics and gates) and :mod:`.serving` (the torch-free router).
"""
