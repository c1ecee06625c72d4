"""The log-in and sign-up dialog: platform, email and password (twice to sign up), errors
shown inline under the fields, a switch between logging in and creating an account. The
platform typed is kept for the next time (kalavai_like.client.account.remember_platform), and
a dialog closed without logging in keeps its platform and email for the next one. The API
token goes to the keystore; the password never leaves this dialog except in the one request.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from kalavai_like.client.account import MIN_PASSWORD
from kalavai_like.errors import KalavaiError
from kalavai_like.gui.context import Context
from kalavai_like.gui.dialogs import ContextDialog, answer, error_label

TITLES = {False: "Log in to kalavai-like", True: "Create a kalavai-like account"}
OK_TEXT = {False: "Log in", True: "Sign up"}
SWITCH_TEXT = {False: "No account yet? Sign up", True: "Already have an account? Log in"}


class LoginDialog(ContextDialog):
    """See the module docstring. `logged_in` carries the account's email."""

    logged_in = Signal(str)

    def __init__(
        self, ctx: Context, parent: QWidget | None = None, *, signup: bool = False
    ) -> None:
        super().__init__(ctx, TITLES[signup], parent)
        self.setMinimumWidth(460)
        self.platform = QLineEdit(ctx.draft.get("platform") or ctx.platform)
        self.platform.setObjectName("platform")
        self.email = QLineEdit(ctx.draft.get("email", ""))
        self.email.setPlaceholderText("you@example.org")
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.confirm = QLineEdit()
        self.confirm.setEchoMode(QLineEdit.EchoMode.Password)
        self.hint = QLabel(f"At least {MIN_PASSWORD} characters.")
        self.error = error_label("error", selectable=True)
        self.form = QFormLayout()
        self.form.addRow("Platform", self.platform)
        self.form.addRow("Email", self.email)
        self.form.addRow("Password", self.password)
        self.form.addRow("Repeat password", self.confirm)
        self.form.addRow("", self.hint)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.buttons.accepted.connect(self.on_submit)
        self.buttons.rejected.connect(self.reject)
        self.switch = QPushButton()
        self.switch.setFlat(True)
        self.switch.clicked.connect(lambda: self.set_signup(not self.signup))
        layout = QVBoxLayout(self)
        layout.addLayout(self.form)
        layout.addWidget(self.error)
        layout.addWidget(self.switch)
        layout.addWidget(self.buttons)
        self.set_signup(signup)
        (self.password if self.email.text() else self.email).setFocus()

    def set_signup(self, signup: bool) -> None:
        """Show the dialog as a sign-up (True) or a log-in."""
        self.signup = signup
        self.setWindowTitle(TITLES[signup])
        self.ok.setText(OK_TEXT[signup])
        self.switch.setText(SWITCH_TEXT[signup])
        self.form.setRowVisible(self.confirm, signup)
        self.form.setRowVisible(self.hint, signup)
        self.error.hide()

    def on_submit(self) -> None:
        email, password = self.email.text().strip(), self.password.text()
        if not email or not password:
            self.show_error("Type your email and password.")
            return
        if self.signup and password != self.confirm.text():
            self.show_error("The two passwords differ: type the same one twice.")
            return
        try:
            platform = self.ctx.remember_platform(self.platform.text())
        except KalavaiError as exc:
            self.on_failed(exc)
            return
        self.ok.setEnabled(False)
        self.ok.setText("Creating the account…" if self.signup else "Logging in…")
        self.error.hide()
        call = self.ctx.do_signup if self.signup else self.ctx.do_login
        self.ctx.bridge.call(
            call, platform, email, password, done=self.on_logged_in, failed=self.on_failed
        )

    def on_logged_in(self, email: str) -> None:
        self.password.clear()
        self.confirm.clear()
        self.ctx.draft.clear()
        self.logged_in.emit(email)
        self.accept()

    def on_failed(self, exc: KalavaiError) -> None:
        self.ok.setEnabled(True)
        self.ok.setText(OK_TEXT[self.signup])
        self.show_error(f"{exc.title}. {exc.message}".strip())

    def show_error(self, text: str) -> None:
        self.error.setText(text)
        self.error.show()

    def done(self, result: int) -> None:
        """Closing without logging in keeps what was typed (not the password) for next time."""
        if result != self.DialogCode.Accepted:
            self.ctx.draft.update(platform=self.platform.text(), email=self.email.text())
            try:
                self.ctx.remember_platform(self.platform.text())
            except KalavaiError:
                pass  # not an address yet: the draft still holds it for this session
        super().done(result)

    @classmethod
    def ask(
        cls, ctx: Context, parent: QWidget | None = None, *, signup: bool = False
    ) -> str | None:
        """Show the dialog; the logged-in email, or None if cancelled."""
        dlg = cls(ctx, parent, signup=signup)
        email: str | None = answer(dlg, dlg.logged_in)
        return email
