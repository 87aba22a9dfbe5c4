"""Word lists for realistic Swedish fake data: names, streets, towns with their postcode areas.

Fictitious combinations only: every person generated from these lists is made up.
"""

from __future__ import annotations

__all__ = [
    "COMPANY_FORMS",
    "COMPANY_TRADES",
    "COMPANY_WORDS",
    "EMAIL_PROVIDERS",
    "FEMALE_FIRST_NAMES",
    "LAST_NAMES",
    "MALE_FIRST_NAMES",
    "STREETS",
    "TOWNS",
]

# fmt: off

FEMALE_FIRST_NAMES: tuple[str, ...] = (
    "Anna", "Eva", "Maria", "Karin", "Sara", "Lena", "Kerstin", "Emma", "Ingrid", "Marie",
    "Malin", "Jenny", "Birgitta", "Hanna", "Inger", "Linnéa", "Sofia", "Annika", "Elin",
    "Ida", "Linda", "Susanne", "Johanna", "Åsa", "Margareta", "Elisabeth", "Ulla", "Camilla",
    "Helena", "Cecilia", "Ebba", "Alva", "Maja", "Wilma", "Astrid", "Märta", "Signe", "Saga",
    "Agnes", "Lovisa", "Frida", "Therése", "Gunilla", "Ylva", "Britt-Marie", "Siv", "Märit",
    "Solveig", "Göta", "Aisha", "Fatima", "Leila", "Nour", "Mira", "Katarina", "Pia", "Tove",
)

MALE_FIRST_NAMES: tuple[str, ...] = (
    "Lars", "Mikael", "Anders", "Johan", "Per", "Erik", "Karl", "Peter", "Thomas", "Jan",
    "Daniel", "Fredrik", "Hans", "Bengt", "Stefan", "Mats", "Magnus", "Andreas", "Mattias",
    "Björn", "Göran", "Jonas", "Nils", "Oskar", "Sven", "Åke", "Örjan", "Sören", "Håkan",
    "Jörgen", "Gösta", "Olof", "Gustav", "Axel", "Hugo", "Elias", "Liam", "Noah", "William",
    "Ludvig", "Viktor", "Emil", "Linus", "Måns", "Kjell", "Rolf", "Ulf", "Leif", "Tore",
    "Ahmed", "Mohammed", "Ali", "Hassan", "Omar", "Jesper", "Rasmus", "Tobias", "Pontus",
)

LAST_NAMES: tuple[str, ...] = (
    "Andersson", "Johansson", "Karlsson", "Nilsson", "Eriksson", "Larsson", "Olsson",
    "Persson", "Svensson", "Gustafsson", "Pettersson", "Jonsson", "Jansson", "Hansson",
    "Bengtsson", "Jönsson", "Lindberg", "Jakobsson", "Magnusson", "Lindström", "Olofsson",
    "Lindqvist", "Lindgren", "Berg", "Axelsson", "Bergström", "Lundberg", "Lind", "Lundgren",
    "Lundqvist", "Mattsson", "Berglund", "Fredriksson", "Sandberg", "Henriksson", "Forsberg",
    "Sjöberg", "Wallin", "Engström", "Eklund", "Danielsson", "Lundin", "Håkansson", "Björk",
    "Bergman", "Gunnarsson", "Holm", "Wikström", "Samuelsson", "Isaksson", "Fransson",
    "Bergqvist", "Nyström", "Holmberg", "Arvidsson", "Löfgren", "Söderberg", "Nyberg",
    "Blomqvist", "Claesson", "Nordström", "Mårtensson", "Lundström", "Viklund", "Björklund",
    "Eliasson", "Pålsson", "Berggren", "Sandström", "Nordin", "Ström", "Åberg", "Hermansson",
    "Ekström", "Holmgren", "Sundberg", "Hedlund", "Dahlberg", "Hellström", "Sjögren",
    "Abrahamsson", "Falk", "Öberg", "Andreasson", "Blom", "Ek", "Månsson", "Strand",
    "Åkesson", "Sundström", "Jonasson", "Ahmed", "Ali", "Hassan", "Mohammed", "Nordqvist",
    "Östlund", "Söderström", "Wästberg", "Ängström", "Kjellberg", "Törnqvist", "Lönnberg",
)

STREETS: tuple[str, ...] = (
    "Storgatan", "Drottninggatan", "Kungsgatan", "Sveavägen", "Vasagatan", "Götgatan",
    "Hamngatan", "Skolgatan", "Kyrkogatan", "Järnvägsgatan", "Parkvägen", "Björkvägen",
    "Ekvägen", "Tallvägen", "Granvägen", "Lindvägen", "Allégatan", "Västra Hamngatan",
    "Östra Storgatan", "Södra Vägen", "Norra Strandgatan", "Ringvägen", "Industrivägen",
    "Fabriksgatan", "Åsgatan", "Ängsvägen", "Solvägen", "Mossvägen", "Hagagatan",
    "Linnégatan", "Rönnvägen", "Sjövägen", "Bäckvägen", "Strandvägen", "Trädgårdsgatan",
    "Klostergatan", "Slottsgatan", "Bergsgatan", "Nygatan", "Prästgatan", "Hantverkargatan",
    "Fleminggatan", "Sankt Eriksgatan", "Odengatan", "Övre Husargatan", "Kvarnvägen",
    "Smedjegatan", "Lärkvägen", "Syrenvägen", "Hästhagsvägen", "Tegnérgatan", "Bryggaregatan",
)

# Town and the three-digit postcode areas used there (postcode = area + two digits, "NNN NN").
TOWNS: tuple[tuple[str, tuple[int, ...]], ...] = (
    ("Stockholm", (111, 112, 113, 114, 115, 116, 117, 118)),
    ("Göteborg", (411, 412, 413, 414, 415, 416, 417, 418)),
    ("Malmö", (211, 212, 213, 214, 215, 216, 217)),
    ("Uppsala", (752, 753, 754, 755, 756, 757)),
    ("Västerås", (721, 722, 723, 724, 725)),
    ("Örebro", (702, 703)),
    ("Linköping", (581, 582, 583, 584, 585, 586, 587, 589)),
    ("Helsingborg", (252, 253, 254)),
    ("Jönköping", (553, 554, 555, 556)),
    ("Norrköping", (602, 603)),
    ("Lund", (222, 223, 224, 225, 226, 227)),
    ("Umeå", (903, 904, 905, 906, 907)),
    ("Gävle", (802, 803, 804, 805, 806)),
    ("Borås", (503, 504, 505, 506, 507)),
    ("Södertälje", (151, 152)),
    ("Eskilstuna", (632, 633)),
    ("Halmstad", (302, 303)),
    ("Växjö", (352,)),
    ("Karlstad", (652, 653, 654, 655, 656)),
    ("Sundsvall", (852, 853, 854, 855, 856)),
    ("Luleå", (972, 973, 974, 975, 976, 977)),
    ("Östersund", (831, 832)),
    ("Trollhättan", (461,)),
    ("Kalmar", (392, 393)),
    ("Skövde", (541,)),
    ("Kristianstad", (291,)),
    ("Falun", (791,)),
    ("Sävedalen", (433,)),
    ("Mölndal", (431,)),
    ("Täby", (183, 187)),
    ("Nacka", (131,)),
    ("Solna", (169, 171)),
    ("Sollentuna", (191, 192)),
    ("Kiruna", (981,)),
    ("Visby", (621,)),
    ("Ystad", (271,)),
    ("Örnsköldsvik", (891,)),
    ("Härnösand", (871,)),
    ("Piteå", (941,)),
    ("Skellefteå", (931,)),
    ("Ängelholm", (262,)),
    ("Åre", (837,)),
)

# (provider domain, relative weight) for private persons' e-mail addresses.
EMAIL_PROVIDERS: tuple[tuple[str, int], ...] = (
    ("gmail.com", 40),
    ("hotmail.com", 12),
    ("outlook.com", 8),
    ("telia.com", 10),
    ("bredband.net", 5),
    ("live.se", 6),
    ("yahoo.se", 3),
    ("icloud.com", 7),
    ("spray.se", 2),
    ("comhem.se", 4),
    ("bahnhof.se", 3),
)

COMPANY_TRADES: tuple[str, ...] = (
    "Bygg", "Måleri", "Konsult", "Data", "IT", "Webbyrå", "Redovisning", "Design", "Städ",
    "El", "Rör", "Transport", "Café", "Frisör", "Fastigheter", "Trädgård", "Bilverkstad",
    "Foto", "Juridik", "Snickeri", "Catering", "Bokföring", "Tandvård", "Hälsa", "Musik",
)

COMPANY_WORDS: tuple[str, ...] = (
    "Nordisk", "Svea", "Fjäll", "Norrsken", "Skärgårds", "Älv", "Ek", "Björk", "Vågen",
    "Solsidan", "Kust", "Gränna", "Mälardalens", "Höga Kusten", "Öresunds", "Dalarnas",
    "Västkust", "Norrlands", "Göta", "Vätterns",
)

COMPANY_FORMS: tuple[str, ...] = ("AB", "AB", "AB", "AB", "HB", "KB", "Ekonomisk förening")
# fmt: on
