"""The HTTP face: a trained model behind a TEI-style API (``POST /predict``), on the core's predictor.

``app`` builds the FastAPI application (dynamic batching, limits, TEI errors, metrics) and runs
it with uvicorn on a socket the CLI binds first. It imports FastAPI at the top, so only
``tui-lab serve`` (and the lab's Export screen, in a child process) imports it.
"""
