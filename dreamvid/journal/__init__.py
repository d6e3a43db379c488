"""The work folder of any long render: its plan, its journal of finished pieces and the names they go by.

- workfolder.py: the folder, its plan, the frame log, its removal
- resume.py: what a resume must match (version, source, fingerprint)
- names.py: the names of pieces and chunks
"""
