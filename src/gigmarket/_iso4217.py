"""The ISO 4217 minor-unit exponents gigmarket trusts.

gigmarket keeps its own table instead of reading py-moneyed's ``sub_unit``:
the money rules must not change when a dependency changes, and a test pins
the two together so a disagreement is seen, not inherited. The table covers
every code py-moneyed knows (active and historic) plus the codes ISO added
since (ZWG, XCG).

Codes whose ISO minor unit is "N.A." (precious metals, SDR, test and
"no currency" codes such as XAU, XDR, XTS, XXX) are listed with exponent 0,
as py-moneyed does, so that the table stays comparable with py-moneyed's;
they are also in :data:`NO_MINOR_UNIT`, and :mod:`gigmarket.money` refuses
them as money.
"""

from __future__ import annotations

from types import MappingProxyType

__all__ = ["EXPONENTS", "NO_MINOR_UNIT"]

_NO_MINOR_UNIT = """
ADP ALK AOK AON AOR BAN BEC BEL BGM BGO BIF BOL BUK BYR CLE CLP CSK DDM DJF ECS ESA ESB ESP
GEK GNF GNS GQE GWE ISK ITL JPY KMF KRH KRO KRW LUC LUL MDC MGF MKN MLF MTP MVP MXP PEI PTE
PYG ROL RWF SDP SUR TJR TPE TRL UGS UGX UYI VND VNN VUV XAF XAG XAU XBA XBB XBC XBD XDR XEU
XFO XFU XOF XPD XPF XPT XRE XSU XTS XUA XXX YDD
"""

_HUNDREDTHS = """
AED AFA AFN ALL AMD ANG AOA ARA ARL ARM ARP ARS ATS AUD AWG AZM AZN BAD BAM BBD BDT BEF BGL
BGN BMD BND BOB BOP BOV BRB BRC BRE BRL BRN BRR BRZ BSD BTN BWP BYB BYN BZD CAD CDF CHE CHF
CHW CNH CNX CNY COP COU CRC CSD CUC CUP CVE CYP CZK DEM DKK DOP DZD ECV EEK EGP ERN ETB EUR
FIM FJD FKP FRF GBP GEL GHC GHS GIP GMD GRD GTQ GWP GYD HKD HNL HRD HRK HTG HUF IDR IEP ILP
ILR ILS IMP INR IRR ISJ JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL LTL LTT LUF LVL LVR
MAD MAF MCF MDL MGA MKD MMK MNT MOP MRO MRU MTL MUR MVR MWK MXN MXV MYR MZE MZM MZN NAD NGN
NIC NIO NLG NOK NPR NZD PAB PEN PES PGK PHP PKR PLN PLZ QAR RHD RON RSD RUB RUR SAR SBD SCR
SDD SDG SEK SGD SHP SIT SKK SLE SLL SOS SRD SRG SSP STD STN SVC SYP SZL THB TJS TMM TMT TOP
TRY TTD TVD TWD TZS UAH UAK USD USN USS UYP UYU UZS VEB VED VEF VES WST XCD XCG YER YUD YUM
YUN YUR ZAL ZAR ZMK ZMW ZRN ZRZ ZWD ZWG ZWL ZWN ZWR
"""

_THOUSANDTHS = """
BHD IQD JOD KWD LYD OMR TND
"""

_TEN_THOUSANDTHS = """
CLF UYW
"""

EXPONENTS: MappingProxyType[str, int] = MappingProxyType(
    {
        code: exponent
        for exponent, codes in (
            (0, _NO_MINOR_UNIT),
            (2, _HUNDREDTHS),
            (3, _THOUSANDTHS),
            (4, _TEN_THOUSANDTHS),
        )
        for code in codes.split()
    }
)
"""Currency code → number of decimal places of its minor unit."""

NO_MINOR_UNIT: frozenset[str] = frozenset(
    {
        *("XAG", "XAU", "XPD", "XPT"),  # precious metals
        *("XBA", "XBB", "XBC", "XBD", "XEU", "XFO", "XFU", "XRE", "XSU", "XUA"),  # units of account
        *("XDR", "XTS", "XXX"),  # the SDR, testing, no currency
    }
)
"""Codes whose ISO 4217 minor unit is "N.A.": precious metals (XAG, XAU, XPD,
XPT), the IMF's SDR (XDR), bond-market and settlement units (XBA-XBD, XEU,
XFO, XFU, XRE, XSU, XUA), the test code XTS and "no currency" XXX. They are
units of account, not money with cents, and are refused as marketplace money.
(XAF, XOF and XPF are real currencies without decimals and are not here.)"""
