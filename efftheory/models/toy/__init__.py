"""The paper's toy network: embeddings, an MLP decoder, AdamW (:mod:`.kernels`)."""
