"""vlexplore: cross-modal input ablation for vision-and-language transformers.

Frank, Bugliarello & Elliott (EMNLP 2021): ablate the image regions aligned with a phrase
and watch masked-word predictions degrade; ablate the phrase and watch masked-region
predictions (hardly) degrade. The library core imports neither Streamlit nor plotting code.
"""

__version__ = "0.1.0"
