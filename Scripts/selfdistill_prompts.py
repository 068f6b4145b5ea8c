#!/usr/bin/env python3
"""Self-written instruction prompts for self-distillation (Medusa heads, PPD prompt tokens).

Every prompt is built here from templates and word lists written for this script; no outside text
is used except, for a share of the summarization and passage-QA prompts, the docstrings of Python
standard-library modules (Python Software Foundation License, a permissive licence), read from the
running interpreter with `inspect.getdoc`. Categories follow the kinds of task in Spec-Bench
(writing, roleplay, reasoning, math, coding, extraction, STEM, humanities, translation,
summarization, QA, math word problems, QA over a passage), but no prompt is taken from it.

Overlap check: a prompt is dropped if it shares any word 10-gram (lower-cased words, punctuation
dropped) with a Spec-Bench question turn (Fixtures/spec-bench/question.jsonl) or with any string in
the fixtures (every string value of every JSON/JSONL file and every text file under Fixtures/,
which covers the golden prompts). The counts are printed.

Usage: python3 Scripts/selfdistill_prompts.py [--out FILE] [--seed N] [--per-category N]
Writes JSON lines {"id", "category", "prompt"} (default /work/data/selfdistill/prompts.jsonl).
Deterministic for a given seed and Python version (the stdlib docstrings depend on the version).
"""
import argparse, importlib, inspect, json, os, random, re, sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUT = "/work/data/selfdistill/prompts.jsonl"
NGRAM = 10

# ---------------------------------------------------------------------------------------------
# Shared word lists

NAMES = ["Amara", "Bruno", "Chen", "Dalia", "Emeka", "Freya", "Gustavo", "Hana", "Ivan", "Jasmine",
         "Kofi", "Lena", "Mateo", "Nadia", "Oskar", "Priya", "Quentin", "Rosa", "Samir", "Tove",
         "Umar", "Valeria", "Wen", "Ximena", "Yusuf", "Zara", "Leo", "Mina", "Theo", "Ines"]
TOWNS = ["Brackenford", "Eastmere", "Hollowbrook", "Kestrel Bay", "Lindenvale", "Marrowgate",
         "Northcliff", "Oakhaven", "Pellwick", "Quarry Hill", "Redfern", "Saltmarsh", "Thornbury",
         "Upton Reach", "Willowdene", "Yarrowfield"]
COMPANIES = ["Bluefin Robotics", "Copperleaf Foods", "Driftwood Analytics", "Evergreen Textiles",
             "Foxglove Pharma", "Granite Logistics", "Harbor Light Energy", "Ironbark Software",
             "Juniper Health", "Kitewing Aerospace", "Lumen Glassworks", "Moss & Pine Furniture"]
ITEMS = [("apples", "bag", 6), ("pencils", "box", 12), ("eggs", "carton", 12), ("stickers", "sheet", 20),
         ("cookies", "tin", 24), ("marbles", "jar", 50), ("cupcakes", "tray", 9), ("bolts", "packet", 25),
         ("candles", "pack", 8), ("batteries", "pack", 4), ("tulips", "bunch", 10), ("cards", "deck", 52)]

TOPICS = ["a lighthouse keeper's last night on duty", "the first snowfall in a mountain village",
          "a robot learning to paint", "a lost dog finding its way home", "a city garden on a rooftop",
          "an old bakery that reopens", "a friendship between a fox and a crow", "a train that runs only at midnight",
          "a scientist who discovers a new color", "a child's first day at school", "a storm at sea",
          "an astronaut looking back at Earth", "a library that never closes", "the smell of rain on hot stone",
          "a grandmother's recipe box", "a chess match in a park", "the end of summer",
          "a river that changes course", "a town festival of lanterns", "learning to ride a bicycle",
          "moving to a new country", "a power outage on a winter evening", "a tree that is five hundred years old",
          "the last bookshop in town", "a street musician", "a pair of old boots", "the sound of a ticking clock",
          "an abandoned amusement park", "a beekeeper and her hives", "a ferry crossing at dawn"]
WRITING_FORMS = ["a short story", "a poem", "a haiku sequence of three haiku", "a limerick", "a blog post",
                 "a diary entry", "a letter to a friend", "a short speech", "a newspaper column",
                 "a fable with a moral", "the opening paragraph of a novel", "a song with two verses and a chorus",
                 "a one-page play scene", "a postcard message", "a children's bedtime story"]
TONES = ["in a hopeful tone", "in a melancholy tone", "with a humorous twist", "in plain, simple language",
         "for young children", "in the style of a nature documentary narrator", "in under 150 words",
         "using vivid sensory details", "from the point of view of an object in the scene",
         "in the second person", "with a surprising ending", "in exactly five sentences"]
PRACTICAL = [("a product description", ["a solar-powered lantern", "a folding bicycle", "a bamboo toothbrush",
                                        "a smart water bottle", "noise-cancelling headphones", "a cast-iron skillet",
                                        "a handmade wool scarf", "a beginner's telescope"]),
             ("a cover letter", ["a junior data analyst job", "a barista position", "a library assistant role",
                                 "a summer internship at an architecture firm", "a nursing assistant job",
                                 "a junior web developer position"]),
             ("a polite email", ["asking a landlord to fix a broken heater", "requesting a deadline extension",
                                 "inviting colleagues to a farewell lunch", "following up after a job interview",
                                 "declining a meeting invitation", "asking a neighbor to keep the music down"]),
             ("an announcement", ["a community clean-up day", "a new opening time for the town pool",
                                  "a charity bake sale", "a change in the bus timetable", "a school science fair"]),
             ("a social media post", ["a new vegan cafe", "a lost cat", "a local running club",
                                      "a book swap event", "a recycling campaign"])]


def pick(rng, xs):
    return xs[rng.randrange(len(xs))]


# ---------------------------------------------------------------------------------------------
# Categories: each returns a list of candidate prompts (more than needed; the caller samples).

def writing(rng):
    out = []
    for form in WRITING_FORMS:
        for topic in TOPICS:
            out.append(f"Write {form} about {topic} {pick(rng, TONES)}.")
    for kind, subjects in PRACTICAL:
        for s in subjects:
            out.append(f"Write {kind} for {s}.")
            out.append(f"Draft {kind} for {s}. Keep it friendly and concise.")
    for topic in TOPICS:
        out.append(f"Give me five creative titles for a story about {topic}.")
        out.append(f"Describe {topic} in one rich paragraph.")
    return out


ROLES = [("a pirate captain", "your crew has just spotted land after months at sea"),
         ("a medieval blacksmith", "a knight asks you to repair a cracked sword before dawn"),
         ("a detective in 1920s Chicago", "a nervous client walks into your office"),
         ("a tour guide in ancient Rome", "you are showing visitors around the Forum"),
         ("a friendly dragon", "a village child has come to ask you for help"),
         ("a starship engineer", "the warp core is failing and the captain wants answers"),
         ("a grumpy cat", "your owner has brought home a new puppy"),
         ("a personal fitness coach", "I tell you I have never exercised before"),
         ("a museum curator", "a visitor asks why a plain canvas is worth millions"),
         ("a weather forecaster on live television", "a surprise hailstorm is heading for the city"),
         ("a chef running a busy kitchen", "the main oven has just broken during dinner service"),
         ("a travel agent", "I want a cheap week-long holiday somewhere warm"),
         ("a wise old librarian", "a student cannot decide what to read next"),
         ("a sports commentator", "the final seconds of a tied basketball game are being played"),
         ("a customer support agent for an internet provider", "my connection keeps dropping every evening"),
         ("Sherlock Holmes", "you notice something odd about my shoes"),
         ("a job interviewer for a bakery", "I have come in for the interview"),
         ("a time traveller from the year 2400", "you are explaining your world to someone today"),
         ("a park ranger", "a hiker asks what to do if they meet a bear"),
         ("a language teacher", "I want to learn how to greet people politely in Japanese"),
         ("a ship's cook", "the crew complains that the soup is always the same"),
         ("a famous inventor", "a reporter asks about your greatest failure"),
         ("a kind nurse", "a patient is nervous about a blood test"),
         ("a stand-up comedian", "you are warming up a quiet audience"),
         ("a mountain guide", "a sudden fog has rolled in during the climb")]
ROLE_ASKS = ["Stay in character and respond.", "Reply in character in a few sentences.",
             "Answer as that character would, with personality.", "What do you say?",
             "Introduce yourself and respond to the situation."]


def roleplay(rng):
    out = []
    for role, situation in ROLES:
        for ask in ROLE_ASKS:
            out.append(f"Pretend you are {role}, and {situation}. {ask}")
            out.append(f"Act as {role}. The situation: {situation}. {ask}")
        out.append(f"You are {role}. Write a short monologue about your daily life.")
        out.append(f"Imagine you are {role}. Give me three pieces of advice from your experience.")
    return out


def reasoning(rng):
    out = []
    for _ in range(160):
        a, b, c, d = rng.sample(NAMES, 4)
        adj = pick(rng, [("taller", "shortest", "tallest"), ("older", "youngest", "oldest"),
                         ("faster", "slowest", "fastest"), ("heavier", "lightest", "heaviest")])
        q = pick(rng, [adj[1], adj[2]])
        out.append(f"{a} is {adj[0]} than {b}. {b} is {adj[0]} than {c}. {d} is {adj[0]} than {a}. "
                   f"Who is the {q}? Explain your reasoning step by step.")
    for _ in range(60):
        start = rng.randrange(1, 20)
        step = rng.randrange(2, 9)
        kind = rng.randrange(3)
        if kind == 0:
            seq = [start + step * i for i in range(5)]
        elif kind == 1:
            seq = [start * (2 ** i) for i in range(5)]
        else:
            seq = [start + i * i * step for i in range(5)]
        out.append(f"What number comes next in the sequence {', '.join(map(str, seq))}? Explain the pattern.")
    days = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
    for _ in range(50):
        d = pick(rng, days)
        n = rng.randrange(3, 200)
        out.append(f"If today is {d}, what day of the week will it be in {n} days? Show how you work it out.")
    for _ in range(40):
        a, b = rng.sample(NAMES, 2)
        rel = pick(rng, ["my mother's brother", "my father's only sister", "my sister's son",
                         "my grandfather's daughter", "my brother's wife's mother"])
        out.append(f"{a} says: '{b} is {rel}.' What is the relationship between {b} and {a}? Explain.")
    syllogisms = [("All squares are rectangles", "some rectangles are red", "some squares are red"),
                  ("No reptiles have fur", "all snakes are reptiles", "no snakes have fur"),
                  ("All poets are dreamers", "some dreamers are engineers", "some poets are engineers"),
                  ("Every student in the class passed", "Lena is in the class", "Lena passed"),
                  ("Some birds cannot fly", "penguins are birds", "penguins cannot fly"),
                  ("If it rains the street gets wet", "the street is wet", "it rained"),
                  ("If the alarm rings, the guard wakes up", "the guard did not wake up", "the alarm did not ring")]
    for p1, p2, c in syllogisms:
        out.append(f"Premise one: {p1}. Premise two: {p2}. Does it follow that {c}? Justify your answer.")
        out.append(f"Is this argument valid? '{p1}; {p2}; therefore {c}.' Explain carefully.")
    for _ in range(30):
        n = rng.randrange(3, 8)
        m = rng.randrange(2, 6)
        out.append(f"There are {n} boxes and each box holds {m} keys, but one box is empty. "
                   f"One key in one box opens every box. What is the fewest boxes you must open to be sure "
                   f"you find that key? Reason it through.")
    return out


def math(rng):
    out = []
    for _ in range(80):
        a, b, c = rng.randrange(2, 12), rng.randrange(-20, 21), rng.randrange(-30, 31)
        out.append(f"Solve for x: {a}x + {b} = {c}. Show each step.".replace("+ -", "- "))
    for _ in range(50):
        r1, r2 = rng.randrange(-9, 10), rng.randrange(-9, 10)
        b, c = -(r1 + r2), r1 * r2
        out.append(f"Find the roots of x^2 + {b}x + {c} = 0.".replace("+ -", "- "))
    for _ in range(40):
        a, n = rng.randrange(2, 9), rng.randrange(2, 6)
        out.append(f"What is the derivative of f(x) = {a}x^{n} + sin(x)? Explain the rules you use.")
        out.append(f"Compute the integral of {a}x^{n} from 0 to {rng.randrange(1, 5)}.")
    for _ in range(40):
        x, y = rng.randrange(12, 400), rng.randrange(12, 400)
        out.append(f"Find the greatest common divisor and least common multiple of {x} and {y}.")
    for _ in range(30):
        pts = [(rng.randrange(-6, 7), rng.randrange(-6, 7)) for _ in range(3)]
        out.append(f"What is the area of the triangle with vertices {pts[0]}, {pts[1]} and {pts[2]}?")
    for _ in range(30):
        k = rng.randrange(2, 12)
        out.append(f"Two fair six-sided dice are rolled. What is the probability that the sum is {k}?")
    for _ in range(30):
        n = rng.randrange(50, 1000)
        out.append(f"Is {n} a prime number? If not, give its prime factorization.")
    for _ in range(20):
        n = rng.randrange(10, 200)
        out.append(f"What is the sum of the integers from 1 to {n}? Explain the formula.")
    for _ in range(20):
        r = rng.randrange(2, 15)
        out.append(f"A circle has radius {r} cm. Find its circumference and its area.")
    return out


LANGS = ["Python", "JavaScript", "C", "Rust", "Go", "Java", "Swift", "C++", "Ruby", "TypeScript"]
CODE_TASKS = ["reverses a string", "checks whether a word is a palindrome", "returns the n-th Fibonacci number",
              "counts the vowels in a sentence", "merges two sorted lists into one sorted list",
              "removes duplicate values from a list while keeping order", "finds the largest element in an array",
              "converts Celsius to Fahrenheit", "checks whether a number is prime",
              "computes the factorial of a number iteratively", "flattens a nested list",
              "counts how often each word appears in a text", "performs binary search on a sorted array",
              "rotates a matrix by 90 degrees", "validates an email address with a simple rule",
              "returns the second smallest number in a list", "implements a stack with push and pop",
              "reads a CSV file and prints the average of one column", "finds the longest common prefix of strings",
              "checks whether brackets in a string are balanced", "converts a Roman numeral to an integer",
              "computes the moving average of a list", "sorts a list of records by a key",
              "implements bubble sort", "capitalizes the first letter of every word"]
SNIPPETS = ["def f(xs):\n    return [x * x for x in xs if x % 2 == 0]",
            "function g(a) {\n  return a.reduce((s, v) => s + v, 0) / a.length;\n}",
            "for i in range(1, 16):\n    print('Fizz' * (i % 3 == 0) + 'Buzz' * (i % 5 == 0) or i)",
            "int h(int n) {\n  int c = 0;\n  while (n) { c += n & 1; n >>= 1; }\n  return c;\n}",
            "def mean(values):\n    total = 0\n    for v in values:\n        total += v\n    return total / len(values) + 1",
            "def last(items):\n    return items[len(items)]",
            "SELECT name, COUNT(*) FROM orders GROUP BY name HAVING COUNT(*) > 3;",
            "let xs = [3, 1, 2];\nxs.sort();\nconsole.log(xs[xs.length - 1]);",
            "def add_item(item, bag=[]):\n    bag.append(item)\n    return bag"]


def coding(rng):
    out = []
    for lang in LANGS:
        for task in CODE_TASKS:
            out.append(f"Write a {lang} function that {task}.")
    for task in CODE_TASKS:
        out.append(f"Explain, step by step, how you would write a program that {task}, then give the code.")
    for s in SNIPPETS:
        out.append(f"Explain what this code does:\n\n{s}")
        out.append(f"Is there a bug in this code? If so, fix it.\n\n{s}")
    for a, b in [("a list", "a tuple"), ("recursion", "iteration"), ("a process", "a thread"),
                 ("TCP", "UDP"), ("a compiler", "an interpreter"), ("a stack", "a queue"),
                 ("SQL", "NoSQL databases"), ("git merge", "git rebase"), ("static typing", "dynamic typing")]:
        out.append(f"What is the difference between {a} and {b} in programming? Give an example.")
    return out


def report_passage(rng):
    c = pick(rng, COMPANIES)
    year = rng.randrange(2015, 2024)
    rev = rng.randrange(12, 900)
    growth = rng.randrange(-15, 40)
    ceo = pick(rng, NAMES) + " " + pick(rng, ["Okafor", "Lindqvist", "Moreau", "Tanaka", "Ruiz", "Novak", "Hale"])
    town = pick(rng, TOWNS)
    staff = rng.randrange(40, 5000)
    return (f"In {year}, {c} reported revenue of {rev} million dollars, a change of {growth} percent from the "
            f"previous year. The company, based in {town}, employs {staff} people. Its chief executive, {ceo}, "
            f"said the results reflected {pick(rng, ['strong demand for new products', 'higher material costs', 'a difficult winter', 'growth in overseas sales'])}. "
            f"The firm plans to {pick(rng, ['open a second factory', 'hire more engineers', 'cut its prices', 'enter the Asian market'])} next year.")


def review_passage(rng):
    item, _, _ = pick(rng, ITEMS)
    stars = rng.randrange(1, 6)
    name = pick(rng, NAMES)
    price = rng.randrange(3, 90)
    return (f"Review by {name}, {stars} out of 5 stars: I bought a set of {item} for {price} dollars from "
            f"{pick(rng, COMPANIES)}. Delivery took {rng.randrange(1, 15)} days. "
            f"{pick(rng, ['The quality was excellent and I would buy again.', 'Half of them arrived damaged.', 'They were fine, nothing special.', 'Customer service replaced the broken ones quickly.'])}")


def event_passage(rng):
    town = pick(rng, TOWNS)
    n = rng.randrange(200, 20000)
    name = pick(rng, NAMES)
    month = pick(rng, ["January", "March", "May", "July", "September", "November"])
    event = pick(rng, ["flood", "harvest festival", "marathon", "power cut", "bridge opening", "jazz festival"])
    return (f"The {event} in {town} took place on {rng.randrange(1, 29)} {month}. About {n} people were involved, "
            f"according to the mayor, {name}. Local shops reported {pick(rng, ['record sales', 'losses', 'long queues', 'a quiet day'])}, "
            f"and the council said it would {pick(rng, ['repeat the event next year', 'review its safety plans', 'spend more on roads', 'publish a report in the spring'])}. "
            f"Residents described the day as {pick(rng, ['chaotic but joyful', 'tiring', 'unforgettable', 'a great success'])}.")


def extraction(rng):
    out = []
    asks = ["Extract every person's name, place, number and date from the text below and return them as JSON.",
            "From the following text, list the key facts as bullet points.",
            "Read the text and return a JSON object with the fields: organization, year, amount, location.",
            "Identify the sentiment of the following text (positive, negative or neutral) and quote the words that show it.",
            "Pull out all numbers in this text and say what each one measures."]
    for _ in range(260):
        p = pick(rng, [report_passage, review_passage, event_passage])(rng)
        out.append(f"{pick(rng, asks)}\n\n{p}")
    return out


STEM = ["photosynthesis", "the water cycle", "plate tectonics", "how vaccines train the immune system",
        "Newton's three laws of motion", "the difference between mass and weight", "how a refrigerator works",
        "entropy", "how batteries store energy", "the greenhouse effect", "DNA replication", "black holes",
        "how airplanes generate lift", "the periodic table", "how a transistor works", "natural selection",
        "the speed of light and why nothing travels faster", "how the heart pumps blood", "ocean tides",
        "the Doppler effect", "how solar panels make electricity", "what causes earthquakes", "nuclear fission",
        "how the eye sees color", "the structure of an atom", "how GPS finds your location",
        "why the sky is blue", "how antibiotics work and why resistance happens", "the carbon cycle",
        "what a neural network is", "how sound travels", "the phases of the Moon", "chemical bonds",
        "how a rainbow forms", "Ohm's law", "the life cycle of a star", "how enzymes speed up reactions",
        "what inflation of the universe means", "how compost turns into soil", "why ice floats on water",
        "how magnets work", "the theory of relativity", "how the internet routes data", "volcanoes",
        "the difference between viruses and bacteria", "how hybrid cars save fuel", "osmosis", "supernovae"]
STEM_ASKS = ["Explain {} in simple terms.", "Explain {} to a ten-year-old.", "Give a clear, accurate explanation of {}.",
             "What are the key ideas behind {}? Use an everyday example.", "Write a short study guide on {}."]


def stem(rng):
    return [a.format(t) for t in STEM for a in STEM_ASKS]


HUMANITIES = ["the causes of the French Revolution", "the importance of the printing press",
              "Stoic philosophy", "the Silk Road", "the Renaissance", "the Industrial Revolution",
              "utilitarianism", "the fall of the Western Roman Empire", "Impressionist painting",
              "the invention of writing", "the Cold War", "existentialism", "the Harlem Renaissance",
              "the role of myths in ancient Greece", "supply and demand", "the history of the Olympic Games",
              "the social contract", "Baroque music", "colonialism and its legacy", "the Meiji Restoration",
              "the ethics of lying", "the abolition of slavery", "Shakespeare's tragedies",
              "the idea of free will", "the spread of Buddhism", "the history of money",
              "modern architecture", "the Enlightenment", "the women's suffrage movement", "minimalism in art"]
HUM_ASKS = ["Discuss {} and why it matters today.", "Give an overview of {} in a few paragraphs.",
            "What are the main arguments for and against {}?", "Summarize the key points of {} for a student.",
            "How did {} influence the modern world?"]


def humanities(rng):
    out = [a.format(t) for t in HUMANITIES for a in HUM_ASKS]
    for a, b in [("Plato", "Aristotle"), ("Romanticism", "Realism"), ("capitalism", "socialism"),
                 ("the Greek city-states", "the Roman Republic"), ("Kant", "Hume"), ("jazz", "blues")]:
        out.append(f"Compare and contrast {a} and {b}.")
    return out


# Sentences written for this script; the foreign ones are translations of plain English sentences.
FOREIGN = [("French", "Le chat dort sur le canapé depuis ce matin."),
           ("French", "Nous avons manqué le dernier train et nous avons marché jusqu'à l'hôtel."),
           ("French", "La boulangerie du coin ouvre à six heures tous les jours sauf le lundi."),
           ("French", "Mon frère apprend à jouer du violon depuis deux ans."),
           ("French", "Il faut arroser les tomates quand il fait chaud."),
           ("French", "Pourriez-vous m'indiquer le chemin de la gare, s'il vous plaît ?"),
           ("Spanish", "Mañana vamos a visitar a mis abuelos en el campo."),
           ("Spanish", "El museo está cerrado por obras hasta el próximo mes."),
           ("Spanish", "Me gusta leer novelas de misterio antes de dormir."),
           ("Spanish", "La reunión empezó tarde porque el proyector no funcionaba."),
           ("Spanish", "¿Cuánto cuesta un billete de ida y vuelta a la ciudad?"),
           ("Spanish", "Los niños construyeron un castillo de arena enorme en la playa."),
           ("German", "Der Zug nach Hamburg hat heute zwanzig Minuten Verspätung."),
           ("German", "Meine Nachbarin backt jeden Sonntag einen Apfelkuchen."),
           ("German", "Wir wollen im Sommer mit dem Fahrrad an der Küste entlang fahren."),
           ("German", "Das Konzert wurde wegen des Sturms auf nächste Woche verschoben."),
           ("German", "Kannst du mir bitte helfen, den Schrank aufzubauen?"),
           ("German", "Die Bibliothek hat ihre Öffnungszeiten am Wochenende verlängert."),
           ("Italian", "La pasta fresca si cuoce in pochi minuti."),
           ("Italian", "Abbiamo visto un tramonto bellissimo dal ponte."),
           ("Italian", "Il negozio di biciclette ripara anche le ruote rotte."),
           ("Portuguese", "O mercado abre cedo e as frutas são sempre frescas."),
           ("Portuguese", "Ela esqueceu o guarda-chuva no ônibus."),
           ("Portuguese", "Vamos jantar juntos na sexta-feira à noite?")]
EN_SUBJECTS = ["My neighbor", "The teacher", "Our team", "The little boy", "The old fisherman", "My sister",
               "The new manager", "A tourist", "The farmer", "The doctor"]
EN_VERBS = ["forgot her keys at", "painted a picture of", "walked slowly to", "bought fresh bread at",
            "took a photo of", "wrote a letter about", "found a small kitten near", "cleaned the windows of"]
EN_OBJECTS = ["the train station", "the old harbor", "the village square", "the school library",
              "the busy market", "the quiet park", "the hospital", "the museum"]
EN_TAILS = ["before the rain started.", "early in the morning.", "after a long day at work.",
            "while everyone else was asleep.", "during the winter holidays.", "because it was a special day."]
TARGETS = ["French", "Spanish", "German", "Italian", "Portuguese", "Dutch"]


def translation(rng):
    out = []
    for lang, s in FOREIGN:
        out.append(f"Translate this {lang} sentence into English: {s}")
        out.append(f"What does \"{s}\" mean in English? Translate it and explain any idioms.")
    for _ in range(260):
        s = f"{pick(rng, EN_SUBJECTS)} {pick(rng, EN_VERBS)} {pick(rng, EN_OBJECTS)} {pick(rng, EN_TAILS)}"
        out.append(pick(rng, [f"Translate into {pick(rng, TARGETS)}: {s}",
                              f"Please translate the following sentence into {pick(rng, TARGETS)}.\n{s}",
                              f"How would you say this in {pick(rng, TARGETS)}? \"{s}\""]))
    return out


STDLIB_MODULES = ["json", "csv", "collections", "itertools", "functools", "pathlib", "argparse", "logging",
                  "datetime", "random", "statistics", "heapq", "bisect", "textwrap", "string", "re",
                  "shutil", "tempfile", "zipfile", "sqlite3", "unittest", "doctest", "pickle", "copy",
                  "decimal", "fractions", "math", "enum", "dataclasses", "typing", "contextlib", "abc",
                  "queue", "threading", "subprocess", "socket", "urllib.parse", "email", "html", "xml.dom",
                  "calendar", "difflib", "gzip", "hashlib", "hmac", "secrets", "uuid", "weakref", "inspect",
                  "ast", "tokenize", "platform", "locale", "gettext", "array", "struct", "codecs", "pprint",
                  "timeit", "trace", "base64", "binascii", "glob", "fnmatch", "filecmp", "configparser",
                  "mimetypes", "operator", "graphlib", "zoneinfo", "sched", "selectors", "signal", "mmap"]


def stdlib_passages():
    """Docstrings of standard-library modules, functions and classes (PSF License), 250-1500 chars."""
    found = []
    for name in STDLIB_MODULES:
        try:
            mod = importlib.import_module(name)
        except Exception:
            continue
        objects = [mod] + [getattr(mod, a) for a in sorted(dir(mod)) if not a.startswith("_")]
        for obj in objects:
            if not (inspect.ismodule(obj) or inspect.isclass(obj) or inspect.isfunction(obj)):
                continue
            if inspect.ismodule(obj) and obj is not mod:
                continue
            doc = inspect.getdoc(obj) or ""
            doc = doc.strip()
            if 250 <= len(doc) <= 1500 and ">>>" not in doc:
                label = f"{name}.{obj.__name__}" if obj is not mod else name
                found.append((label, doc))
    seen, unique = set(), []
    for label, doc in found:
        if doc not in seen:
            seen.add(doc)
            unique.append((label, doc))
    return unique


def summarization(rng, docs):
    out = []
    asks = ["Summarize the following text in two sentences.", "Write a one-paragraph summary of this text.",
            "Give a short summary (three bullet points) of the passage below.",
            "Summarize this for someone with no technical background."]
    for label, doc in docs:
        out.append(f"{pick(rng, asks)}\n\n{doc}")
    for _ in range(150):
        p = " ".join(pick(rng, [report_passage, event_passage, review_passage])(rng) for _ in range(2))
        out.append(f"{pick(rng, asks)}\n\n{p}")
    return out


QA = ["Why do leaves change color in autumn?", "How do bees make honey?", "What is the tallest mountain on Earth?",
      "Why do cats purr?", "What is the difference between weather and climate?", "How long does it take light from the Sun to reach Earth?",
      "What causes hiccups?", "Why is the ocean salty?", "How do noise-cancelling headphones work?",
      "What is a good way to start learning a new language?", "How can I improve my sleep?",
      "What are the health benefits of walking every day?", "Why do we have leap years?",
      "How does a credit score work?", "What is the largest desert in the world?", "How do submarines dive and surface?",
      "What is the main ingredient in guacamole?", "Why do onions make people cry?", "How many bones are in the human body?",
      "What is the difference between a crocodile and an alligator?", "Why do stars twinkle?",
      "How do I keep houseplants alive?", "What is compound interest?", "Why do we yawn?",
      "How does recycling plastic work?", "What makes a good password?", "What is the capital of Australia?",
      "Who painted the ceiling of the Sistine Chapel?", "What language has the most native speakers?",
      "How do birds know where to migrate?", "Why is exercise good for the brain?", "What is a calorie?",
      "How are rainbows formed?", "What should I pack for a three-day hiking trip?", "How does a microwave oven heat food?",
      "What is the boiling point of water at high altitude and why?", "How do I make a simple budget?",
      "Why does bread rise?", "What are the planets in our solar system?", "How do vaccines get tested before approval?",
      "What is the difference between a lake and a pond?", "How do octopuses change color?",
      "Why is sleep important for children?", "How do I write a good résumé?", "What is the origin of chess?",
      "How do glaciers move?", "Why do we have time zones?", "What is the fastest land animal?",
      "How can I reduce food waste at home?", "What is the role of the liver?", "How are coins made?",
      "How does a bicycle stay upright?", "What is a haiku?", "Why do some people need glasses?",
      "How do I care for a cast-iron pan?", "What is the difference between an ocean and a sea?",
      "How were the pyramids of Giza built?", "What is machine learning?", "Why do dogs wag their tails?",
      "How do I prepare for a job interview?", "What is the speed of sound?", "What is a balanced diet?"]
QA_COUNTRIES = ["Canada", "Kenya", "Japan", "Peru", "Norway", "Vietnam", "Egypt", "Argentina", "Poland",
                "Ghana", "Indonesia", "Portugal", "Chile", "Mongolia", "Finland", "Morocco"]


def qa(rng):
    out = list(QA)
    for c in QA_COUNTRIES:
        out.append(f"What is the capital of {c}, and what is it known for?")
        out.append(f"What languages are spoken in {c}?")
        out.append(f"Tell me three interesting facts about {c}.")
        out.append(f"What is the climate like in {c}?")
    for q in QA:
        out.append(f"{q} Please answer briefly.")
    return out


def word_problems(rng):
    out = []
    for _ in range(120):
        n = pick(rng, NAMES)
        item, box, per = pick(rng, ITEMS)
        k = rng.randrange(2, 9)
        g = rng.randrange(1, per * k // 2)
        out.append(f"{n} buys {k} {box}s of {item}. Each {box} has {per} {item}. {n} gives away {g} {item}. "
                   f"How many {item} does {n} have left?")
    for _ in range(80):
        n = pick(rng, NAMES)
        speed, hours = rng.randrange(30, 110), rng.randrange(2, 7)
        extra = rng.randrange(10, 90)
        out.append(f"{n} drives at {speed} kilometers per hour for {hours} hours, then another {extra} kilometers. "
                   f"How far does {n} drive in total?")
    for _ in range(80):
        n = pick(rng, NAMES)
        wage, h, days = rng.randrange(9, 40), rng.randrange(3, 9), rng.randrange(2, 6)
        spend = rng.randrange(10, 80)
        out.append(f"{n} earns {wage} dollars an hour and works {h} hours a day for {days} days. "
                   f"{n} then spends {spend} dollars on groceries. How much money is left?")
    for _ in range(60):
        a, b = rng.sample(NAMES, 2)
        x = rng.randrange(3, 30)
        m = rng.randrange(2, 5)
        out.append(f"{a} has {x} marbles. {b} has {m} times as many marbles as {a}. "
                   f"How many marbles do they have together?")
    for _ in range(60):
        price = rng.randrange(20, 300)
        pct = pick(rng, [10, 15, 20, 25, 30, 40])
        out.append(f"A jacket costs {price} dollars. It is on sale for {pct} percent off. "
                   f"What is the sale price, and how much do you save?")
    for _ in range(40):
        n = pick(rng, NAMES)
        age = rng.randrange(5, 15)
        m = rng.randrange(2, 5)
        out.append(f"{n} is {age} years old. {n}'s aunt is {m} times as old. "
                   f"How old will the aunt be when {n} is twice as old as now?")
    return out


def passage_qa(rng, docs):
    out = []
    for label, doc in docs:
        q = pick(rng, ["What is the main purpose described in this passage?",
                       f"According to the passage, what does {label} do?",
                       "Which parameters or options does the passage mention, and what do they do?"])
        out.append(f"Use only the passage below to answer the question.\n\nPassage:\n{doc}\n\nQuestion: {q}")
    for _ in range(200):
        p = pick(rng, [report_passage, event_passage])(rng)
        q = pick(rng, ["Who is mentioned in the passage and what is their role?", "What year or date is given?",
                       "What number is reported, and what does it measure?", "Where did this take place?",
                       "What is planned for the future, according to the passage?"])
        out.append(f"Answer the question based on the passage.\n\nPassage: {p}\n\nQuestion: {q}")
    return out


# ---------------------------------------------------------------------------------------------
# Overlap check

def words(text):
    return re.findall(r"[a-z0-9]+", text.lower())


def ngrams(ws, n=NGRAM):
    return {tuple(ws[i:i + n]) for i in range(len(ws) - n + 1)}


def collect_strings(value, out):
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, list):
        for v in value:
            collect_strings(v, out)
    elif isinstance(value, dict):
        for k, v in value.items():
            collect_strings(k, out)
            collect_strings(v, out)


def reference_ngrams():
    """10-grams of every Spec-Bench turn and of every string in Fixtures/ (JSON, JSONL, text)."""
    spec, fixtures = set(), set()
    with open(os.path.join(ROOT, "Fixtures", "spec-bench", "question.jsonl")) as f:
        for line in f:
            for turn in json.loads(line)["turns"]:
                spec |= ngrams(words(turn))
    for dirpath, _, files in os.walk(os.path.join(ROOT, "Fixtures")):
        for name in files:
            path = os.path.join(dirpath, name)
            strings = []
            try:
                with open(path, encoding="utf-8") as f:
                    text = f.read()
            except (UnicodeDecodeError, OSError):
                continue  # binary fixture (npy, gguf, f32, safetensors)
            if name.endswith(".json"):
                try:
                    collect_strings(json.loads(text), strings)
                except json.JSONDecodeError:
                    strings.append(text)
            elif name.endswith(".jsonl"):
                for line in text.splitlines():
                    try:
                        collect_strings(json.loads(line), strings)
                    except json.JSONDecodeError:
                        strings.append(line)
            else:
                strings.append(text)
            for s in strings:
                fixtures |= ngrams(words(s))
    return spec, fixtures


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--seed", type=int, default=17)
    ap.add_argument("--per-category", type=int, default=200)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    docs = stdlib_passages()
    rng.shuffle(docs)
    half = len(docs) // 2
    makers = [("writing", lambda: writing(rng)), ("roleplay", lambda: roleplay(rng)),
              ("reasoning", lambda: reasoning(rng)), ("math", lambda: math(rng)),
              ("coding", lambda: coding(rng)), ("extraction", lambda: extraction(rng)),
              ("stem", lambda: stem(rng)), ("humanities", lambda: humanities(rng)),
              ("translation", lambda: translation(rng)), ("summarization", lambda: summarization(rng, docs[:half])),
              ("qa", lambda: qa(rng)), ("math_reasoning", lambda: word_problems(rng)),
              ("rag", lambda: passage_qa(rng, docs[half:]))]
    spec, fixtures = reference_ngrams()
    rows, report = [], []
    for category, make in makers:
        candidates = list(dict.fromkeys(make()))  # unique, in order
        rng.shuffle(candidates)
        kept, dropped_spec, dropped_fix = [], 0, 0
        for p in candidates:
            if len(kept) == args.per_category:
                break
            g = ngrams(words(p))
            if g & spec:
                dropped_spec += 1
            elif g & fixtures:
                dropped_fix += 1
            else:
                kept.append(p)
        report.append((category, len(candidates), len(kept), dropped_spec, dropped_fix))
        rows += [(category, p) for p in kept]
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        for i, (category, p) in enumerate(rows):
            f.write(json.dumps({"id": i, "category": category, "prompt": p}, ensure_ascii=False) + "\n")
    print(f"reference 10-grams: {len(spec)} from Spec-Bench, {len(fixtures)} from Fixtures/", file=sys.stderr)
    print(f"stdlib docstring passages: {len(docs)} (Python {sys.version.split()[0]})", file=sys.stderr)
    print(f"{'category':15} {'candidates':>10} {'kept':>5} {'dropped:spec-bench':>19} {'dropped:fixtures':>17}", file=sys.stderr)
    for c, n, k, ds, df in report:
        print(f"{c:15} {n:10} {k:5} {ds:19} {df:17}", file=sys.stderr)
    print(f"wrote {len(rows)} prompts to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
