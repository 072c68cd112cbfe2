"""The flow: render jobs that tie source, depth, plan, renderer and sink together."""
