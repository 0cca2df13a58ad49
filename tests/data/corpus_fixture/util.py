# A tiny Python module for the corpus builder's tests.


def double(x):
    return 2 * x
