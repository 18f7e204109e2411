"""The French filters every template uses: times, articles, phones, numbers, salutations and plurals."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

from mailflow.mail import french

PARIS = ZoneInfo("Europe/Paris")
NB = "\u00a0"


def test_times_read_9_h_and_9_h_30() -> None:
    """Whole hours have no « 00 », and a time never breaks across lines."""
    assert french.time_fr(time(9, 0), PARIS) == f"9{NB}h"
    assert french.time_fr(time(9, 30), PARIS) == f"9{NB}h{NB}30"
    start, end = datetime(2025, 8, 27, 7, 0, tzinfo=UTC), datetime(2025, 8, 27, 7, 30, tzinfo=UTC)
    assert french.hours_fr(start, end, PARIS) == f"de 9{NB}h à 9{NB}h{NB}30"


def test_collectivite_takes_its_article() -> None:
    """« de la Ville de », « du Département de », « de l'Eurométropole », « de Brest métropole »."""
    assert french.collectivite("Ville de Brest", "de") == "de la Ville de Brest"
    assert french.collectivite("Département de la Drôme", "de") == "du Département de la Drôme"
    assert french.collectivite("Communauté d'agglomération du Val d'Exemple", "de") == (
        "de la Communauté d'agglomération du Val d'Exemple")
    assert french.collectivite("Brest métropole", "de") == "de Brest métropole"
    assert french.collectivite("Eurométropole de Strasbourg", "de") == "de l'Eurométropole de Strasbourg"
    assert french.collectivite("Ville de Saint-Exemple", "au sein de") == "au sein de la Ville de Saint-Exemple"
    assert french.collectivite("Département du Nord", "à") == "au Département du Nord"
    assert french.collectivite(None, "au sein de") == "au sein de votre collectivité"


def test_numbers_and_phones() -> None:
    """SIRET and amounts never split; French phones national, others international."""
    assert french.siret("21690266800013") == f"216{NB}902{NB}668{NB}00013"
    assert french.euros(4000) == "4\u202f000\u00a0€"
    assert french.phone("+33199005678") == f"01{NB}99{NB}00{NB}56{NB}78"
    assert french.phone("+3222345678") == f"+32{NB}2{NB}234{NB}56{NB}78"
    assert french.phone("pas un numéro") == "pas un numéro"


def test_salutation_from_role_and_civility() -> None:
    """The title comes from the function (without its portfolio), the civility from a « Mme » or the role."""
    dga = {"role": "Directrice générale adjointe Aménagement et mobilités"}
    assert french.salutation(dga) == "Madame la Directrice générale adjointe,"
    assert french.salutation({"role": "Directeur général des services"}) == (
        "Monsieur le Directeur général des services,")
    assert french.salutation({"role": "DGA"}) == "Madame, Monsieur,"
    assert french.salutation(None, "Mme Claire Marchal – DRH") == "Madame,"
    assert french.salutation(None, "M. Karim Haddad") == "Monsieur,"
    assert french.salutation({"role": "Chargée de mission"}) == "Madame, Monsieur,"


def test_plural_agreement() -> None:
    """0 and 1 take the singular in French (CLDR), never « (s) »."""
    assert french.count(0, "proposition", "propositions") == f"0{NB}proposition"
    assert french.count(1, "proposition", "propositions") == f"1{NB}proposition"
    assert french.count(3, "proposition", "propositions") == f"3{NB}propositions"


def test_typography_spaces() -> None:
    """Non-breaking spaces before high punctuation, after «, inside numbers; never inside HTML tags."""
    assert french.typography("Objet : « test » ; oui ! 200 045") == (
        f"Objet{NB}: «{NB}test{NB}»{NB}; oui{NB}! 200{NB}045")
    assert french.typography_html('<a style="a : b">Objet : x</a>') == f'<a style="a : b">Objet{NB}: x</a>'
