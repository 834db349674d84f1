"""The model call: the seam every stage calls through (`call.py`), the OpenAI-compatible
client over it (`openai_call.py`, `chat_post.py`, `http_client.py`), the client-side rate
limiter (`ratelimit.py`) and the embedded local model (`local/`)."""
