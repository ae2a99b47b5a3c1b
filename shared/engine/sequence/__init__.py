"""Next-item models over users' chronological histories (SASRec) and their data and protocol.

Training and evaluation only: this package imports torch (sasrec.py) and is never imported on a serving path.
"""
