"""The flow: window planning and render jobs that tie source, depth, plan, renderer and sink together."""
