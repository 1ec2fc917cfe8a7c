"""The core: data loading, Learner, callbacks, optimisation, schedules, metrics, downloads.

It knows nothing of images, texts or tables, and imports only torch and numpy.
"""
