"""Contact sheets, to look before the night: one frame dreamed with every combination of the values given
as lists (a preview sheet), or with every layer or channel of a model (a layer sheet).

- plan.py: the cells and axes; captions.py: what each cell says and the command that renders it
- frames.py: the picture dreamed; sheet.py: drawing and writing the sheet; make.py: the two sheets, made
"""
