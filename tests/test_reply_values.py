"""Reading a reply in a proposal's thread for the fields still missing or invalid (pure, no IO)."""

from __future__ import annotations

import pytest

from mailflow.pipeline.forms.definition import FormDefinition, load_form_definition
from mailflow.pipeline.reply_values import merged, read_reply


@pytest.fixture(scope="module")
def form() -> FormDefinition:
    return load_form_definition()


def test_value_after_the_form_label(form: FormDefinition) -> None:
    """« Le courriel du contact RH est … » and « N° SIRET : … » give their fields, normalised."""
    read = read_reply("Bonjour,\nLe courriel du contact RH est K.Haddad@Ville.fr.\nN° SIRET : 216 902 668 00013\n",
                      ["collectivity.hr_email", "collectivity.siret"], form)
    assert read.values == {"collectivity.hr_email": "k.haddad@ville.fr", "collectivity.siret": "21690266800013"}
    assert read.unread == ()


def test_the_longest_label_wins(form: FormDefinition) -> None:
    """« Courriel du contact RH » is not taken for the DGS's « Courriel »."""
    read = read_reply("Courriel du contact RH (impératif) : rh@ville.fr", ["collectivity.hr_email", "dgs.email"], form)
    assert read.values == {"collectivity.hr_email": "rh@ville.fr"}
    assert read.unread == ("dgs.email",)


def test_value_by_its_kind_when_one_field_of_that_kind_is_wanted(form: FormDefinition) -> None:
    """The one e-mail address (not the sender's signature), phone or valid SIRET of a short reply."""
    text = "Bonjour, voici l'adresse : k.haddad@ville.fr\nCordialement\nJean Martin\nj.martin@ville.fr"
    assert read_reply(text, ["collectivity.hr_email"], form, "j.martin@ville.fr").values == {
        "collectivity.hr_email": "k.haddad@ville.fr"}
    text = "Le numéro de la tutrice : 06 12 34 56 78 ; notre SIRET 21690266800013"
    assert read_reply(text, ["tutor.phone", "collectivity.siret"], form).values == {
        "tutor.phone": "+33612345678", "collectivity.siret": "21690266800013"}


def test_nothing_read_when_ambiguous_or_wrong(form: FormDefinition) -> None:
    """Two addresses for one wanted e-mail, an invalid SIRET, or no value: nothing is guessed."""
    assert read_reply("a@ville.fr ou b@ville.fr", ["collectivity.hr_email"], form).values == {}
    assert read_reply("SIRET : 216 902 668 00014", ["collectivity.siret"], form).values == {}
    read = read_reply("Nous revenons vers vous.", ["tutor.last_name"], form)
    assert read.values == {} and read.unread == ("tutor.last_name",)


def test_merged_keeps_the_other_fields() -> None:
    """The new version's fields are the old ones with the values read."""
    fields = {"collectivity": {"name": "Ville", "hr_email": None}, "dgs": {"email": "d@v.fr"}}
    new = merged(fields, {"collectivity.hr_email": "rh@v.fr"})
    assert new == {"collectivity": {"name": "Ville", "hr_email": "rh@v.fr"}, "dgs": {"email": "d@v.fr"}}
    assert fields["collectivity"]["hr_email"] is None
