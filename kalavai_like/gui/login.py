"""The log-in dialog: platform, email and password, errors shown inline under the fields.
The API token goes to the keystore (kalavai_like.client.account.login); the password never leaves
this dialog except in the one log-in request.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QDialogButtonBox, QFormLayout, QLineEdit, QVBoxLayout, QWidget

from kalavai_like.errors import KalavaiError
from kalavai_like.gui.context import Context
from kalavai_like.gui.dialogs import ContextDialog, answer, error_label


class LoginDialog(ContextDialog):
    """See the module docstring. `logged_in` carries the account's email."""

    logged_in = Signal(str)

    def __init__(self, ctx: Context, parent: QWidget | None = None) -> None:
        super().__init__(ctx, "Log in to kalavai-like", parent)
        self.setMinimumWidth(420)
        self.platform = QLineEdit(ctx.platform)
        self.email = QLineEdit()
        self.email.setPlaceholderText("you@example.org")
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.error = error_label("error", selectable=True)
        form = QFormLayout()
        form.addRow("Platform", self.platform)
        form.addRow("Email", self.email)
        form.addRow("Password", self.password)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok.setText("Log in")
        self.buttons.accepted.connect(self.on_submit)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)
        self.email.setFocus()

    def on_submit(self) -> None:
        email, password = self.email.text().strip(), self.password.text()
        if not email or not password:
            self.show_error("Type your email and password.")
            return
        self.ok.setEnabled(False)
        self.ok.setText("Logging in…")
        self.error.hide()
        self.ctx.bridge.call(
            self.ctx.do_login, self.platform.text().strip(), email, password,
            done=self.on_logged_in, failed=self.on_failed,
        )  # fmt: skip

    def on_logged_in(self, email: str) -> None:
        self.password.clear()
        self.logged_in.emit(email)
        self.accept()

    def on_failed(self, exc: KalavaiError) -> None:
        self.ok.setEnabled(True)
        self.ok.setText("Log in")
        self.show_error(f"{exc.title}. {exc.message}".strip())

    def show_error(self, text: str) -> None:
        self.error.setText(text)
        self.error.show()

    @classmethod
    def ask(cls, ctx: Context, parent: QWidget | None = None) -> str | None:
        """Show the dialog; the logged-in email, or None if cancelled."""
        dlg = cls(ctx, parent)
        email: str | None = answer(dlg, dlg.logged_in)
        return email
