"""An out-of-process fake of Modal's control plane for the real modal 1.6 SDK and CLI.

Start it with ``python -m tests.fakes.modal_fake --state-dir DIR`` or, from tests, with
``tests.fakes.modal_fake.client.ModalFake.start(...)``. See README.md in this package.
"""
