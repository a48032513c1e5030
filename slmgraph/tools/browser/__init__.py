"""The operator's browser: a headless Chromium (Selenium) on MiniWoB++ pages, the page as
elements with refs, the action grammar and the skill store. No model is called here."""
