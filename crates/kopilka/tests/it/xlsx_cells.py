"""Prints an XLSX workbook's cells as JSON, as openpyxl (a spreadsheet reader kopilka does not
share code with) reads them: per sheet, rows of {"type", "value", "format"}; dates as
"YYYY-MM-DD HH:MM:SS.ffffff"."""
import json
import sys

import openpyxl

workbook = openpyxl.load_workbook(sys.argv[1], read_only=True)
sheets = []
for sheet in workbook.worksheets:
    rows = []
    for row in sheet.iter_rows():
        cells = []
        for cell in row:
            value = cell.value
            if cell.is_date:
                kind, value = "date", value.strftime("%Y-%m-%d %H:%M:%S.%f")
            elif cell.data_type == "n" and value is not None:
                kind = "number"
            elif value is None:
                kind = "empty"
            else:
                kind = "text"
            cells.append({"type": kind, "value": value, "format": cell.number_format})
        rows.append(cells)
    sheets.append({"name": sheet.title, "rows": rows})
print(json.dumps(sheets))
