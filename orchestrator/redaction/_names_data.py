"""Name lists for the log redaction: the names most common in Sweden, as data.

Sources: Statistics Sweden's (SCB) published frequency lists of first names (tilltalsnamn, men and
women, all ages and newborns) and surnames (efternamn), plus the first names and surnames of
the larger groups born abroad or with parents born abroad (Arabic, Somali, Persian, Kurdish,
Turkish, Bosnian/Croatian/Serbian, Polish, Finnish, Eritrean/Ethiopian, Vietnamese, Chinese,
South Asian, Latin American, other European). A few hundred of each: the detector does not rely
on the list alone (surname endings and neighbouring capitalised words generalise, see
`_names.py`), the list is what makes a lone name or a name next to an unknown one recognisable.

Kept here, not imported from `sandbox/` (the orchestrator never imports the sandbox, and the
tests generate their names from the sandbox's lists, so the two stay independent).

`AMBIGUOUS` are names that are also ordinary words in log text, Swedish or English ("Per
request", "Max retries", "Will retry", "Berg", "Ström", "Can"): they count as a name only next
to another name, never alone.
"""

# ruff: noqa: RUF001 - Turkish names are spelt with the dotless i (U+0131): data, not a typo.
from __future__ import annotations

__all__ = ["AMBIGUOUS", "FIRST_NAMES", "NOT_NAMES", "SURNAMES"]

# fmt: off
_SWEDISH_FEMALE = """
Anna Eva Maria Karin Sara Kristina Lena Emma Kerstin Ingrid Marie Malin Jenny Birgitta Hanna
Inger Linnéa Linnea Sofia Annika Monica Monika Elin Ida Linda Susanne Johanna Åsa Margareta
Elisabeth Elisabet Ulla Camilla Helena Cecilia Ebba Alva Maja Wilma Astrid Märta Signe Saga
Agnes Lovisa Frida Therése Therese Gunilla Ylva Britt Britt-Marie Siv Märit Solveig Göta Katarina
Pia Tove Marianne Agneta Yvonne Carina Charlotte Ann Anne Anneli Annelie Mona Ingegerd Gun
Barbro Gunnel Marita Lotta Anette Annette Sandra Sanna Emilia Isabelle Isabella Nellie Thea Lilly
Juni Hedda Majken Leah Elsa Ella Olivia Ester Selma Stella Ellen Elvira Moa Tilda Matilda Louise
Josefin Josefine Caroline Jessica Emelie Emelie Emilie Amanda Julia Alice Lisa Klara Clara Freja
Ellie Ines Ronja Tyra Nora Mila Meja Ellinor Elina Evelina Felicia Filippa Fanny Hilda Hillevi
Ingela Ingeborg Irene Jeanette Jenni Jonna Josephine Karolina Katja Kajsa Lina Linn Liv Lovis
Madeleine Magdalena Maj Malva Mathilda Matilde Melissa Michaela Mikaela Minna Moa Natalie Nathalie
Nina Paula Petra Ragnhild Rebecka Rebecca Rut Ruth Sigrid Silvia Sofie Sonja Stina Susanna
Sylvia Terese Tina Ulrika Ulrica Veronica Veronika Viktoria Victoria Vendela Viveka Wera Ylva
Åsa Ebba Aurora Leia Ellie Tuva Elise Emmy Cornelia Nelly Tindra Lykke Siri Svea Edith Majvor
Mira Nicole Jasmine Elly Lova Novalie Majvi Ingbritt Tova Minna Gunvor Ingalill Ulrika Emelia
Elsie Gerd Greta Gudrun Gunborg Gunhild Gunvor Harriet Hjördis Inga Ingalill Inga-Lill Irma
Lilian Lillemor Maud Mildred Rigmor Rosita Rose-Marie Ann-Marie Ann-Christin Anna-Karin
Anna-Lena Ann-Sofie Eva-Lena Lise-Lotte Marie-Louise Karl-Erik Sara-Li Britta Elvy Viola
"""

_SWEDISH_MALE = """
Lars Mikael Michael Anders Johan Erik Karl Carl Peter Thomas Tomas Daniel Fredrik Hans Bengt
Andreas Stefan Staffan Mats Magnus Mattias Matthias Björn Göran Jonas Nils Oskar Oscar Sven Åke
Örjan Sören Håkan Jörgen Gösta Olof Gustav Gustaf Axel Hugo Elias Liam Noah William Ludvig
Viktor Victor Emil Linus Måns Kjell Rolf Ulf Leif Tore Jesper Rasmus Tobias Pontus Alexander
Marcus Markus Martin Niklas Nicklas Christer Krister Patrik Patric Henrik Lucas Lukas Oliver
Adam Alfred Arvid Leo Filip Philip Isak Vincent Theo Teo Olle Sixten Malte Melvin Edvin Albin
Anton Sebastian Simon Jakob Jacob Robin Kevin Joakim Kristoffer Christoffer Roger Tommy Rolf
Kent Lennart Rune Roland Gunnar Arne Ingvar Sten Ola Claes Torbjörn Jimmy Dennis Johnny Conny
Ronny Kenneth Sune Ture Evert Valter Walter Elis Folke Ragnar Birger Bertil Bror Einar Eskil
Gunnar Helge Holger Ingemar Ivar Jarl Kurt Lage Lennart Nisse Ove Rickard Richard Robert Rune
Samuel Sigvard Sture Tage Torsten Uno Urban Vilhelm Wilhelm Yngve Östen Benjamin Charlie Colin
Casper Kasper Elton Frans Gabriel Harry Hampus Isac Ivar Jonathan Josef Joel Julius Kian Loke
Loui Louie Melker Milo Milton Neo Nicolas Nikolas Noel Otto Valdemar Viggo Vidar Wille Ebbe
Eddie Elliot Elliott Emanuel Erling Fabian Felix Gustavo Hannes Henning Herman Hjalmar Ingmar
Jens Joar Jon Kalle Knut Krister Lars-Erik Lars-Göran Per-Olof Per-Erik Jan-Erik Karl-Johan
Lars-Olof Nils-Erik Sven-Erik Bengt-Göran Hans-Olov Olov Mattis Pelle Putte Sigge Svante Torgny
Tord Ulrik Uffe Ville Åsmund Alvar Algot Angus Arvo Dante Douglas Edward Emrik Gideon Ison
"""

# Other origins common in Sweden: Arabic, Somali, Persian, Kurdish, Turkish, South Slavic,
# Polish, Finnish, Eritrean/Ethiopian, Vietnamese, Chinese, South Asian, Latin, other European.
_OTHER_FIRST = """
Mohammed Mohammad Muhammad Mohamed Mohamad Mahmoud Mahmud Ahmed Ahmad Ali Hassan Hasan Hussein
Husein Omar Umar Yusuf Youssef Yousef Ibrahim Mustafa Mostafa Abdi Abdullahi Abdullah Abdul
Abdulla Abdirahman Abdirizak Khalid Khaled Karim Kareem Amir Reza Mehdi Hamid Farid Samir Nabil
Tariq Yasin Yassin Ismail Idris Bilal Hamza Adnan Ayman Anas Basel Bashar Fadi Firas Ghassan
Haider Haidar Hiwa Jamal Jamil Karwan Khalil Mahdi Majid Malik Marwan Mazen Milad Mohsen Morteza
Nasser Nawzad Rami Rashid Saad Sami Shvan Shwan Tarek Walid Yahya Younes Zakaria Zakariya Ziad
Emre Mehmet Murat Kemal Burak Deniz Hakan Erdem Serkan Volkan Yusuf Mert Ömer Cem Selin Elif
Ayşe Ayse Fatma Zeynep Esra Merve Büşra Fatima Fatemeh Aisha Aicha Amina Aminata Mariam Maryam
Zahra Zeinab Zainab Leila Layla Laila Yasmin Yasmine Jasmin Nour Noor Hiba Shirin Parisa Nasrin
Hodan Fadumo Faduma Sahra Hawa Ayan Ifrah Asha Hibaq Halima Khadija Hodo Ikram Nasra Sagal
Sumaya Sumaia Rania Rana Dina Lina Hala Huda Iman Jana Lamia Lana Maha Manal Nadia Nada Noura
Rasha Reem Rim Roya Samira Sanaa Shadi Sima Soraya Taha Yara Zara Zina Darya Golnaz Mina
Mohamud Abdikarim Abdiaziz Abdifatah Ayub Dahir Hussen Liban Warsame Yonis Abdiweli Guled
Nguyen Minh Linh Anh Thanh Thu Hoa Huong Tuan Duc Hung Quang Trang Thao Phuong Hieu
Piotr Krzysztof Tomasz Pawel Paweł Michał Marcin Łukasz Grzegorz Wojciech Agnieszka Katarzyna
Małgorzata Malgorzata Joanna Magda Dorota Ewa Beata Monika Zofia Wiktoria Kacper Jakub Mateusz
Dragan Milan Goran Zoran Nikola Marko Ivana Jelena Dragana Milica Snezana Amra Emina Edin Senad
Mirza Amel Alen Adis Almir Armin Damir Dino Elvir Emir Haris Jasmin Kenan Mirsad Nedim Nermin
Samir Sanel Selma Aida Alma Amela Azra Lejla Merima Nermina Sabina Senada Ajla Adna Amila
Aleksandra Aleksandar Dimitri Dmitri Dmitrij Olga Natalia Natalja Irina Svetlana Tatiana Tatjana
Oksana Yulia Julija Sergei Sergej Andrei Andrej Vladimir Igor Alexei Aleksej Yuri Jurij
Juha Jukka Matti Pekka Kari Timo Tuula Aino Eero Ahti Tarja Päivi Pirjo Raija Seppo Sirkka Tapio
Veikko Ritva Arja Eila Hannu Heikki Jari Kalevi Markku Raimo Riitta Sirpa
Priya Raj Rahul Anil Sanjay Deepa Arjun Amit Ashok Ravi Suresh Sunita Pooja Neha Rajesh Vikram
Ana Carlos José Jose Juan Luis Diego Pablo Sofía Lucía Lucia Camila Valentina Alejandro Andrés
Fernando Francisco Javier Jorge Manuel Miguel Rafael Ricardo Gabriela Daniela Carolina Fernanda
Giuseppe Marco Luca Chiara Giulia Francesca Alessandro Lorenzo Matteo Giovanni
Selam Yonas Tesfaye Abeba Dawit Semhar Merhawi Yohannes Senait Tsegay Tekle Haile Kidane
Mulugeta Abraham Berhane Eden Filmon Helen Rahel Saron Weyni Yordanos Mehari Tesfay
Wei Jing Li-Na Xiaoming Ying Yan Hui Fang Lei Jun Ming Chen-Yu
Andrzej Stanisław Jan-Olof Ivo Ivan Petar Stefan Branko Bojan Dejan Nenad Predrag Slobodan
"""

_SWEDISH_SURNAMES = """
Andersson Johansson Karlsson Carlsson Nilsson Eriksson Larsson Olsson Persson Svensson
Gustafsson Gustavsson Pettersson Petersson Jonsson Jansson Hansson Bengtsson Jönsson Lindberg
Jakobsson Jacobsson Magnusson Lindström Olofsson Lindqvist Lindquist Lindgren Axelsson
Bergström Lundberg Lundgren Lundqvist Mattsson Berglund Fredriksson Sandberg Henriksson
Forsberg Sjöberg Wallin Engström Eklund Danielsson Lundin Håkansson Bergman Gunnarsson
Wikström Samuelsson Isaksson Fransson Bergqvist Nyström Holmberg Arvidsson Löfgren Söderberg
Nyberg Blomqvist Claesson Nordström Mårtensson Lundström Viklund Björklund Eliasson Pålsson
Berggren Sandström Nordin Åberg Hermansson Ekström Holmgren Sundberg Hedlund Dahlberg
Hellström Sjögren Abrahamsson Öberg Andreasson Månsson Åkesson Sundström Jonasson Nordqvist
Östlund Söderström Wästberg Ängström Kjellberg Törnqvist Lönnberg Strömberg Hedberg Lindholm
Norberg Holmqvist Ekberg Hedström Johnsson Sundqvist Lindblom Åström Lindahl Nordlund
Mohlin Sjöström Nyman Lindén Lundell Falkenberg Borg Björkman Bergkvist Lindkvist Lundkvist
Blomberg Ekman Sundin Holmström Åkerlund Hägglund Söderlund Nordberg Lindh Nord Sundell Lund
Westerberg Westberg Sjödin Öhman Brandt Backman Berglöf Boman Bäckström Dahlgren Dahlström
Ekholm Englund Eklöf Forslund Franzén Frisk Granberg Grahn Gren Gunnarsdotter Haglund Hammar
Hedman Hellberg Hellman Holm Hult Högberg Isaksson Jakobsen Jernberg Juhlin Kling Knutsson
Krantz Kristiansson Lagerström Larsdotter Lilja Lindell Linder Lindroth Ljung Ljungberg
Ljunggren Lundmark Löfstedt Malm Malmberg Malmqvist Melin Moberg Modig Mäkinen Nordgren
Nygren Nylander Nyqvist Ohlsson Olander Olausson Palm Palmqvist Pihl Rydberg Rydén Rosén
Rosenberg Rudberg Rundqvist Ryberg Sahlin Sandgren Sandin Selin Sjölund Skog Skoglund Stenberg
Stenström Strand Strandberg Sundén Svanberg Svärd Sörensen Thorén Tornberg Unger Wahlberg
Wahlström Wallgren Wallén Westerlund Westin Wiberg Widén Wikman Wiklund Zetterberg Åkerman
Åslund Öberg Östberg Öhrn Adolfsson Alm Almqvist Alfredsson Ahlberg Ahlström Aronsson
Augustsson Björck Björn Blomgren Bohlin Bolin Broberg Carlberg Carlström Dahlin Ek Ekelund
Elofsson Emanuelsson Enqvist Erlandsson Esbjörnsson Fagerberg Falk Forsman Fors Fredlund
Friberg Fritzell Grönberg Gustafson Göransson Hagström Hallberg Hallgren Hammarström Hansén
Hedin Hedqvist Heikkilä Helin Hjelm Holmlund Häggström Ingvarsson Israelsson Ivarsson Jarl
Josefsson Jonasson Karlström Kvist Lagerqvist Lindstedt Lundh Löfberg Löfqvist Mattsson
Molin Nilsén Norén Norling Nykvist Olin Olofsdotter Oskarsson Ottosson Paulsson Petterson
Ragnarsson Roos Rydström Sandell Sandqvist Sjöholm Skoog Stark Stenlund Ståhl Sundkvist
Sundqvist Svedberg Söderqvist Thelin Thorsson Torstensson Wennberg Wessman Wikberg Vikström
Zackrisson Åhman Öqvist Rask Ringqvist Segerström Seger Stålberg Ström Blom Björk Berg Lind Dahl
Sjö Bäck Hed Sand Wall Vall Lindgren Hjort Kron Lejon Örn Hök Svan Trana Ek Alm Ask Gran Lönn
"""

_OTHER_SURNAMES = """
Ali Mohamed Mohammed Mohammad Muhammad Ahmed Ahmad Hassan Hussein Husein Ibrahim Abdi Omar
Osman Othman Yusuf Yousef Ismail Abdullahi Abdullah Khan Hussain Rahman Rahmani Mahmoud
Mahmood Saleh Salih Karimi Hosseini Husseini Ahmadi Rezaei Mohammadi Moradi Rostami Jafari
Hashemi Sadeghi Kazemi Rahimi Mousavi Nazari Amini Azizi Ghorbani Hamidi Sharifi Akbari
Abbasi Nouri Khalil Haddad Nasser Nasr Mansour Aziz Jama Farah Warsame Nur Noor Abdulle Elmi
Jimale Aden Hersi Awale Guled Egal Dahir Barre Mohamud Abdirahman Muse Yilmaz Kaya Demir
Şahin Sahin Çelik Celik Öztürk Ozturk Aydın Aydin Arslan Doğan Dogan Kılıç Kilic Yıldız Yildiz
Yıldırım Yildirim Özdemir Ozdemir Aslan Erdoğan Koç Kurt Polat Korkmaz Çakır Güneş Tekin
Nguyen Tran Pham Hoang Huynh Phan Vu Vo Dang Bui Do Ngo Duong Ly Truong Dinh
Nowak Kowalski Kowalska Wiśniewski Wisniewski Kowalczyk Kamiński Kaminski Lewandowski
Zieliński Zielinski Szymański Woźniak Wozniak Dąbrowski Kozłowski Jankowski Mazur Krawczyk
Jovanović Jovanovic Petrović Petrovic Nikolić Nikolic Marković Markovic Đorđević Djordjevic
Stojanović Ilić Pavlović Hodžić Hodzic Hadžić Hadzic Begić Begic Delić Delic Kovačević
Kovacevic Mehmedović Mujić Mujic Hasanović Hasanovic Husić Omerović Babić Babic Horvat Kovač
Korhonen Virtanen Mäkinen Nieminen Mäkelä Hämäläinen Laine Heikkinen Koskinen Järvinen
Lehtonen Lehtinen Saarinen Salminen Heinonen Niemi Heikkilä Kinnunen Salonen Turunen Salo
Hansen Jensen Nielsen Pedersen Olsen Larsen Johansen Kristiansen Andersen Christensen
Rasmussen Sørensen Madsen Kristensen Jørgensen Petersen Thomsen Poulsen
Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann Koch Richter
Smith Jones Williams Taylor Davies Evans Wilson Thompson Johnson Robinson Walker Wright
Garcia García Rodriguez Rodríguez Martinez Martínez Lopez López Gonzalez González Hernández
Hernandez Perez Pérez Sanchez Sánchez Ramirez Ramírez Torres Flores Rivera Gomez Gómez Diaz
Díaz Silva Santos Oliveira Souza Pereira Costa Ferreira Alves Rossi Russo Ferrari Esposito
Bianchi Romano Colombo Ricci Marino Greco Singh Patel Kumar Sharma Gupta Shah Mehta Reddy
Rao Iyer Wang Zhang Chen Liu Yang Huang Zhao Zhou Wu Xu Sun Ma Zhu Hu Guo Lin He Luo Gao
Tesfay Tesfaye Gebremedhin Haile Berhe Kidane Tekle Mehari Ghebreyesus Woldemariam Yohannes
Kebede Tadesse Alemu Girma Bekele Negash
Ivanov Ivanova Petrov Petrova Smirnov Smirnova Popov Popova Kuznetsov Sokolov Volkov
Shevchenko Kovalenko Bondarenko Tkachenko Kravchenko Melnyk Popescu Ionescu Constantin
"""

# Names that are also everyday words in logs, English or Swedish: a name only next to another.
_AMBIGUOUS = """
Per Max Bo Jan Dag Stig Tor Love Mio Kim May Mark Will Can Said Sam Ben Ask Sol Sten Alma Vera
Saga Nova Iris Ella Lo Noor Nour Berg Lind Holm Ek Blom Falk Ström Björk Björn Lund Dahl
Strand Wall Vall Sand Sjö Bäck Hed Alm Gran Lönn Hjort Kron Lejon Örn Hök Svan Trana Borg Nord
Palm Malm Skog Frisk Stark Seger Modig Hult Kurt Koch Lee Lin He Ma Hu Wu Xu Sun Do Vo Vu Ly
Jun Lei Ming Fang Hui Yan Ying Jing Wei Rao Shah Eden Helen Dina Rana Rim Jana Lana Nada Maj
Gun Ann Inga Linn Liv Rut Ruth Maud Eddie Harry Charlie Douglas Edward Walter Richard Robert
Milan Jasmin Ivo Rose Viola Ingemar Johnny Felix Otto Leo Neo Noel Adam Abraham Oliver
Victoria Julia Camila Clara Paula Petra Sonja Silvia Sylvia Olga Ana Lucia Lina Hala Hiba
Emir Ivan Dino Martin Simon Vincent Colin Benjamin Gabriel Samuel Jacob Jakob Joel Eero Kari
Smith Jones Walker Wright Taylor Wilson Evans Thompson Johnson Robinson Williams Davies
Richter Fischer Weber Meyer Wagner Becker Schneider Müller Schmidt Schulz Koch Hoffmann
Costa Silva Santos Rossi Russo Ferrari Greco Marino Colombo Romano Ricci Flores Rivera Torres
Salo Laine Niemi Horvat Mazur Polat Aslan Tekin Güneş Kaya Demir Doğan Koç Aziz Nasr Nur Jama
Tran Dang Ngo Phan Dinh Duong Hoang Truong Linh Anh Thu Hoa Duc Hung Quang Minh
Wang Zhang Chen Liu Yang Huang Zhao Zhou Zhu Guo Gao Luo Singh Kumar Gupta Reddy Iyer Patel
"""
# fmt: on

# Capitalised words that are never a name in our logs, even next to one: system and connector
# names, tools, log vocabulary, sentence openers, places that end like surnames (-holm, -berg).
_NOT_NAMES = """
The This That These Those There Then When Where Which While With Without Within For From Into
Onto Over Under Upon After Before During Since Until Unless About Above Across Against Along
Among Around Behind Below Beneath Beside Between Beyond Despite Down Except Inside Near Off
Outside Past Through Throughout Toward Towards Via And But Not Nor Yet Also Only Just Still
Again Already Always Never Some Any All Each Every Both Either Neither None Nothing Something
Anything Everything Here What Who Whom Whose Why How Our Your Their His Her Its You They She
It We Is Are Was Were Be Been Being Has Have Had Do Does Did Done Doing Get Got Set Put Run
Yes No Ok Okay True False Null Nil Error Errors Failed Failure Fail Fails Warning Warn Info
Debug Critical Fatal Exception Traceback File Line Connection Connect Connected Connecting
Disconnected Could Cannot Unable Invalid Unknown Missing Request Requests Response Server
Client Timeout Timed Retry Retrying Retried Workflow Workflows Activity Activities Task Tasks
Worker Workers Temporal Kafka Faust Mode Postgres PostgreSQL Postgresql MariaDB Mariadb MySQL
SQLite Sqlite Redis Tansu Alembic Uvicorn Starlette Fastapi FastAPI Httpx Aiokafka Aiosqlite
Sqlalchemy SQLAlchemy Pydantic Python Structlog Hypothesis Helm Chromium Chrome Docker Linux
Billing Registrar Hosting Newsletter Support Sandbox Sandboxes Intake Shred Shredder Sweep
Audit Auditor Operator Dpo Desk Dashboard Portal Codec Reconcile Reconciler Schedule Package
Packaging Follow Deferred Erasure Erase Export Access Portability Rectification Restriction
Objection Consent Withdrawal Locate Plan Planner Policy Retention Retained Bookkeeping Legal
Contract Backup Backups Suppression Customer Customers User Users Subject Subjects Person
Persons Contact Contacts Account Accounts Mailbox Mailboxes Domain Domains Ticket Tickets
Invoice Invoices Payment Payments Card Session Sessions Subscriber Subscribers List Lists
Campaign Organisation Organization Company Record Records Row Rows Table Tables Column Key
Keys Value Values Field Fields Type Types Name Names Address Email Phone Number Id Ids Status
Http Https Get Post Delete Patch Head Options Internal Bad Gateway Service Unavailable Found
Too Many Forbidden Unauthorized Conflict Gone Accepted Created Content Reason Started Starting
Stopped Stopping Stop Start Running Waiting Ready Healthy Unhealthy Listening Shutting Shutdown
Closing Closed Close Open Opened Completed Complete Cancelled Canceled Terminated Signal Query
Update Updates Heartbeat Poll Polling Commit Committed Offset Partition Partitions Topic Topics
Consumer Consumers Producer Group Broker Brokers Node Nodes Fetch Fetching Metadata Coordinator
Rebalance Rebalancing Assigned Revoked Leader Cluster Application Started Press Using Will
Beginning Begin Completing Successfully Unexpected Uncaught Unhandled Handled Ignoring Skipping
Dropping Dead Letter Letters Sealed Key Master Data Payload Payloads Decode Encode Encrypted
Decrypted Destroyed Verify Verified Checkpoint Checkpoints Chain Hash Signature Signed Token
Tokens Login Logout Role Roles Actor Stack Trace Span Spans Metrics Metric Probe Probes Lag
Monday Tuesday Wednesday Thursday Friday Saturday Sunday January February March April June
July August September October November December Jan Feb Mar Apr Jun Jul Aug Sep Sept Oct
Nov Dec Måndag Tisdag Onsdag Torsdag Fredag Lördag Söndag Januari Februari Mars Maj Juni Juli
Augusti Oktober Hej Hejsan Dear Mr Mrs Ms Miss Dr Prof Herr Fru Kund Kunden Kunder Användare
Avsändare Mottagare Och Eller Men För Från Till Med Utan Om Vid Hos Efter Före Inte Ingen
Inget Alla Den Det Detta Denna Dessa Vi Ni De Han Hon Jag Du Sverige Svenska Svensk Engelska
Europe Stockholm Bornholm Helsingborg Falkenberg Vänersborg Lund Sweden Swedish English Utc
Gmt Cet Cest Iso Api Sdk Cli Ui Url Uri Json Yaml Csv Html Pdf Sql Tls Ssl Tcp Udp Ip Dns
Grpc Rpc Rest Otlp Otel Open Telemetry Prometheus Grafana Jaeger Zendesk Listmonk Rdap Whois
Registry Se Nu Com Net Org Gtld CcTLD Bolagsverket Skatteverket Bokföringslagen Gdpr Art
Article Annex Recital Test Tests Testing Example Sample Demo Dev Local Localhost Production
Staging Default Settings Setting Config Configuration Environment Env Variable Variables
Process Processes Thread Threads Loop Event Events Message Messages Queue Queues Job Jobs
Bench Benchmark Profile Memory Cpu Disk Network Port Ports Bind Host Hosts Path Paths Dir
Directory Folder Files Object Objects Bucket Buckets Storage Store Stores Database Databases
Migration Migrations Upgrade Downgrade Running Context Impl Transactional Assume Non Ddl
Monitor Timer Sampler Agent Agents Fence Table Tables App Apps Web Site Page Pages Chart
Charts Report Reports Month Week Day Days Year Years Hour Hours Minute Minutes Second Seconds
Total Count Counts Sum Average Median Max Min Mean Rate Ratio Limit Limits Size Bytes Version
Old New First Last Next Previous Current Latest Other Another Same Different Main Primary
Secondary Manual Auto Automatic Ambiguous Unique Duplicate Duplicated Lost Kept Deleted
Anonymised Anonymized Redacted Removed Added Changed Unchanged Rejected Refused Denied
Approved Confirmed Extended Extension Notification Notifications Recipient Recipients Action
Actions Decision Decisions Outcome Outcomes Result Results Reply Answer Question Note Notes
Comment Comments Attachment Attachments Recording Recordings Rating Ratings Organisation
Note Sankt Västra Östra Norra Södra Övre Nedre Gamla Nya Stora Lilla Inre Yttre
"""

FIRST_NAMES: frozenset[str] = frozenset((_SWEDISH_FEMALE + _SWEDISH_MALE + _OTHER_FIRST).split())
SURNAMES: frozenset[str] = frozenset((_SWEDISH_SURNAMES + _OTHER_SURNAMES).split())
AMBIGUOUS: frozenset[str] = frozenset(_AMBIGUOUS.split())
NOT_NAMES: frozenset[str] = frozenset(_NOT_NAMES.split())
