"""Entity evaluation: hand-labelled names in our sample articles (``gold.jsonl``)."""
