"""torch (with torch._dynamo, which torch.optim loads) before Keras: loading it after TensorFlow segfaults."""

import torch._dynamo  # noqa: F401
