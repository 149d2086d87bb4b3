"""Hand-written seeds for the semantic-cache evaluation set (written for this project; no public
benchmark was used or copied).

Three kinds of seed, expanded into labelled pairs by `generate.py`:

- `FAMILIES`: one request, phrasings that ask exactly the same thing (`para`), and hard negatives
  that look alike but ask something else, grouped by why they differ (`neg`).
- `FRAMES`: templates with a slot; the same slot value under two templates is a paraphrase, a
  different value (or the `swap` templates) is a hard negative of the frame's category.
- `FOLLOWUPS`: short conversations whose last message only means something with its history.

A paraphrase here means "the answer to one is a correct answer to the other".
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Family:
    base: str
    para: tuple[str, ...]
    neg: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Frame:
    """`templates` ask the same thing of `{x}`; `swap` templates ask something else of the same values."""

    name: str
    category: str
    templates: tuple[str, ...]
    values: tuple[dict[str, str], ...]
    swap: tuple[str, ...] = ()
    swap_category: str = "entity"
    # Templates whose meaning does not change when the values trade places (`{a}`/`{b}`): paraphrases.
    symmetric: tuple[str, ...] = ()


@dataclass(frozen=True)
class Followup:
    """`history` is (user, assistant) turns; `same` are follow-ups that ask the same thing;
    `other` are follow-ups with the same history that ask something else; `other_history` is a
    different history under which `same[0]` means something else."""

    history: tuple[tuple[str, str], ...]
    same: tuple[str, ...]
    other: tuple[str, ...]
    other_history: tuple[tuple[str, str], ...]


NEG, ENT, NUM, SCOPE = "negation", "entity", "number_date", "scope"
REVIEW = (
    "The hotel was clean and the staff were friendly, but the bre"
    "akfast was overpriced and the Wi-Fi kept dropping."
)
EMAIL = "Hi, can we move our meeting from Tuesday to Thursday at 3pm?"
SWAPPED_EMAIL = EMAIL.replace("Tuesday to Thursday", "Thursday to Tuesday")
TWEET = "I love my new phone, the battery lasts forever!"
NEGATED_TWEET = TWEET.replace("I love", "I don't love")
CLASSIFY = "Classify the sentiment of this tweet as positive or negative: "
OTHER_MEETING = "Maria met John and Ahmed at the conference in Berlin last Friday."
MEETING = "Maria met John and Wei at the conference in Berlin last Friday."

FAMILIES: tuple[Family, ...] = (
    Family(
        "How do I reset my password?",
        (
            "What are the steps to reset my password?",
            "How can I reset my password?",
            "I forgot my password. How do I reset it?",
        ),
        {
            NEG: ("Why can't I reset my password?", "How do I stop my password from being reset?"),
            SCOPE: ("How do I reset my password on the mobile app?",),
            ENT: ("How do I reset my PIN?",),
        },
    ),
    Family(
        "What is the capital of Australia?",
        (
            "Which city is Australia's capital?",
            "Tell me the capital city of Australia.",
            "What's the capital of Australia?",
        ),
        {ENT: ("What is the capital of Austria?",), SCOPE: ("What is the largest city in Australia?",)},
    ),
    Family(
        "How many calories are in a banana?",
        (
            "What is the calorie count of a banana?",
            "How many calories does a banana have?",
            "Calories in a banana?",
        ),
        {
            NUM: ("How many calories are in three bananas?",),
            ENT: ("How many calories are in an apple?",),
            SCOPE: ("How much sugar is in a banana?",),
        },
    ),
    Family(
        "Translate 'good morning' into Spanish.",
        (
            "How do you say 'good morning' in Spanish?",
            "What is 'good morning' in Spanish?",
            "Spanish translation of 'good morning', please.",
        ),
        {ENT: ("Translate 'good morning' into Italian.", "Translate 'good night' into Spanish.")},
    ),
    Family(
        "Explain how photosynthesis works.",
        (
            "Can you explain the process of photosynthesis?",
            "How does photosynthesis work?",
            "Describe how photosynthesis works.",
        ),
        {
            SCOPE: (
                "Explain how photosynthesis works in desert plants.",
                "Explain the light-independent reactions of photosynthesis.",
            ),
            ENT: ("Explain how cellular respiration works.",),
        },
    ),
    Family(
        "Write a haiku about autumn.",
        (
            "Compose a haiku about autumn.",
            "Can you write me an autumn haiku?",
            "Give me a haiku on the theme of autumn.",
        ),
        {
            NEG: ("Write a haiku that is not about autumn.",),
            ENT: ("Write a haiku about spring.", "Write a limerick about autumn."),
            NUM: ("Write three haiku about autumn.",),
        },
    ),
    Family(
        "Is coffee good for your health?",
        ("Is drinking coffee healthy?", "Is coffee healthy for you?", "Is coffee good for you?"),
        {
            NEG: ("Is coffee bad for your health?",),
            ENT: ("Is tea good for your health?",),
            SCOPE: ("Is coffee good for your health during pregnancy?",),
        },
    ),
    Family(
        "Which foods contain gluten?",
        ("What foods have gluten in them?", "List foods that contain gluten.", "Which foods have gluten?"),
        {
            NEG: ("Which foods do not contain gluten?", "Which foods are gluten-free?"),
            ENT: ("Which foods contain lactose?",),
        },
    ),
    Family(
        "How do I convert a list to a tuple in Python?",
        (
            "How can I turn a Python list into a tuple?",
            "What's the way to convert a list into a tuple in Python?",
            "Python: convert list to tuple",
        ),
        {
            ENT: (
                "How do I convert a tuple to a list in Python?",
                "How do I convert a list to a set in Python?",
                "How do I convert a list to a tuple in JavaScript?",
            )
        },
    ),
    Family(
        "Who won the 2018 FIFA World Cup?",
        (
            "Which country won the 2018 World Cup?",
            "Who was the winner of the 2018 FIFA World Cup?",
            "2018 World Cup winner?",
        ),
        {
            NUM: ("Who won the 2014 FIFA World Cup?",),
            SCOPE: ("Who scored the most goals in the 2018 FIFA World Cup?",),
            NEG: ("Who lost the 2018 FIFA World Cup final?",),
        },
    ),
    Family(
        "Did Google acquire YouTube?",
        (
            "Was YouTube bought by Google?",
            "Did Google buy YouTube?",
            "Is it true that Google acquired YouTube?",
        ),
        {
            ENT: (
                "Did YouTube acquire Google?",
                "Did Google acquire Fitbit?",
                "Did Microsoft acquire YouTube?",
            )
        },
    ),
    Family(
        "Summarize the plot of Hamlet.",
        (
            "Give me a summary of Hamlet's plot.",
            "What happens in Hamlet? Summarize the story.",
            "Can you summarize the storyline of Hamlet?",
        ),
        {
            SCOPE: ("Summarize the first act of Hamlet.", "Summarize the plot of Hamlet in one sentence."),
            ENT: ("Summarize the plot of Macbeth.",),
        },
    ),
    Family(
        "How do I install numpy?",
        (
            "What's the command to install numpy?",
            "How can I install the numpy package?",
            "How do I get numpy installed?",
        ),
        {
            NEG: ("How do I uninstall numpy?",),
            SCOPE: ("How do I install numpy on Windows?", "How do I install numpy without internet access?"),
            ENT: ("How do I install pandas?",),
        },
    ),
    Family(
        "What are the symptoms of the flu?",
        (
            "What symptoms does the flu cause?",
            "How do I know if I have the flu? What are the symptoms?",
            "List the common flu symptoms.",
        ),
        {
            ENT: ("What are the symptoms of COVID-19?", "What are the symptoms of strep throat?"),
            SCOPE: (
                "What are the symptoms of the flu in toddlers?",
                "What are the early symptoms of the flu?",
            ),
        },
    ),
    Family(
        "Can I bring a laptop in my carry-on bag?",
        (
            "Is it allowed to pack a laptop in carry-on luggage?",
            "Am I allowed to take my laptop in my carry-on?",
            "Can laptops go in carry-on bags?",
        ),
        {
            ENT: ("Can I bring a laptop in my checked bag?", "Can I bring a power bank in my carry-on bag?"),
            NEG: ("Why can't I bring a laptop in my carry-on bag?",),
        },
    ),
    Family(
        "What is the difference between TCP and UDP?",
        (
            "How does TCP differ from UDP?",
            "TCP vs UDP: what's the difference?",
            "What's the difference between UDP and TCP?",
        ),
        {
            ENT: (
                "What is the difference between TCP and IP?",
                "What is the difference between HTTP and HTTPS?",
            ),
            SCOPE: ("What is the difference between TCP and UDP for online gaming?",),
        },
    ),
    Family(
        "How long should I boil an egg for a soft yolk?",
        (
            "How many minutes do I boil an egg to get a runny yolk?",
            "What's the boiling time for a soft-boiled egg?",
            "For a soft yolk, how long do I boil an egg?",
        ),
        {
            NEG: ("How long should I boil an egg for a hard yolk?",),
            ENT: ("How long should I boil a duck egg for a soft yolk?",),
        },
    ),
    Family(
        "What is the time complexity of quicksort?",
        (
            "What's quicksort's time complexity?",
            "How fast is quicksort in big-O terms?",
            "Big-O time complexity of quicksort?",
        ),
        {
            ENT: ("What is the time complexity of mergesort?", "What is the space complexity of quicksort?"),
            SCOPE: ("What is the worst-case time complexity of quicksort?",),
        },
    ),
    Family(
        "Write a SQL query to find duplicate emails in a users table.",
        (
            "How do I write SQL that finds duplicate email addresses in the users table?",
            "SQL query to list duplicate emails in table users",
            "Give me a SQL query that returns emails appearing more than once in the users table.",
        ),
        {
            NEG: ("Write a SQL query to find emails that are not duplicated in a users table.",),
            SCOPE: ("Write a SQL query to delete duplicate emails in a users table.",),
            ENT: ("Write a SQL query to find duplicate phone numbers in a users table.",),
        },
    ),
    Family(
        "Suggest some names for a golden retriever puppy.",
        (
            "What are some good names for a golden retriever puppy?",
            "Give me name ideas for a golden retriever puppy.",
            "I need name suggestions for my golden retriever puppy.",
        ),
        {
            NUM: ("Suggest five names for a golden retriever puppy.",),
            ENT: ("Suggest some names for a black cat.",),
            SCOPE: ("Suggest some names for a female golden retriever puppy.",),
        },
    ),
    Family(
        "How do I center a div in CSS?",
        (
            "What's the best way to center a div with CSS?",
            "How can I center a div using CSS?",
            "CSS: how to center a div",
        ),
        {
            SCOPE: ("How do I center a div vertically in CSS?", "How do I center text in a div in CSS?"),
            ENT: ("How do I center a div in Tailwind?",),
        },
    ),
    Family(
        "What causes inflation?",
        ("Why does inflation happen?", "What are the main causes of inflation?", "What drives inflation?"),
        {
            NEG: ("What causes deflation?",),
            ENT: ("What causes inflation in Argentina?",),
            SCOPE: ("How does inflation affect savings?",),
        },
    ),
    Family(
        "Is it safe to eat raw cookie dough?",
        (
            "Can I safely eat raw cookie dough?",
            "Is raw cookie dough safe to eat?",
            "Is eating uncooked cookie dough safe?",
        ),
        {
            NEG: ("Why is it unsafe to eat raw cookie dough?",),
            ENT: ("Is it safe to eat raw fish?",),
            SCOPE: ("Is it safe to eat raw cookie dough while pregnant?",),
        },
    ),
    Family(
        "How do I undo the last git commit?",
        (
            "How can I undo my most recent commit in git?",
            "What's the git command to undo the last commit?",
            "Undo last commit in git",
        ),
        {
            SCOPE: ("How do I undo the last git commit without losing my changes?",),
            NUM: ("How do I undo the last three git commits?",),
            ENT: ("How do I undo the last git push?",),
        },
    ),
    Family(
        "What's the best time to visit Japan?",
        (
            "When is the best time of year to visit Japan?",
            "When should I travel to Japan?",
            "What time of year is best for a trip to Japan?",
        ),
        {
            ENT: ("What's the best time to visit Iceland?",),
            NEG: ("What's the worst time to visit Japan?",),
            SCOPE: ("What's the best time to visit Japan to see cherry blossoms?",),
        },
    ),
    Family(
        "How do I make cold brew coffee?",
        (
            "What's the method for making cold brew coffee?",
            "How is cold brew coffee made?",
            "Can you tell me how to make cold brew?",
        ),
        {
            ENT: ("How do I make an iced latte?",),
            SCOPE: ("How do I make cold brew coffee without a filter?",),
            NUM: ("How do I make a gallon of cold brew coffee?",),
        },
    ),
    Family(
        "Recommend a book about the history of Rome.",
        (
            "Can you suggest a book on Roman history?",
            "What's a good book about the history of Rome?",
            "I'm looking for a book on the history of Rome. Any recommendations?",
        ),
        {
            ENT: ("Recommend a book about the history of Greece.",),
            SCOPE: ("Recommend a novel set in ancient Rome.",),
            NEG: ("Recommend a book about the history of Rome that is not too academic.",),
        },
    ),
    Family(
        "What does HTTP status code 404 mean?",
        ("What is a 404 error?", "What does a 404 status code mean?", "Meaning of HTTP 404?"),
        {NUM: ("What does HTTP status code 403 mean?", "What does HTTP status code 504 mean?")},
    ),
    Family(
        "How do I calculate the area of a circle?",
        (
            "What's the formula for the area of a circle?",
            "How can I find the area of a circle?",
            "How is the area of a circle computed?",
        ),
        {
            ENT: (
                "How do I calculate the circumference of a circle?",
                "How do I calculate the area of a triangle?",
            )
        },
    ),
    Family(
        "Why is the sky blue?",
        ("What makes the sky blue?", "Why does the sky appear blue?", "What is the reason the sky is blue?"),
        {
            ENT: ("Why is the ocean blue?",),
            SCOPE: ("Why is the sky red at sunset?",),
            NEG: ("Why is the sky not blue on Mars?",),
        },
    ),
    Family(
        "How do I get rid of fruit flies in my kitchen?",
        (
            "What's the best way to eliminate fruit flies in the kitchen?",
            "How can I get rid of fruit flies in my kitchen?",
            "My kitchen has fruit flies. How do I get rid of them?",
        ),
        {
            ENT: ("How do I get rid of ants in my kitchen?",),
            NEG: ("How do I attract fruit flies?",),
            SCOPE: ("How do I get rid of fruit flies without chemicals?",),
        },
    ),
    Family(
        "What is the boiling point of water?",
        (
            "At what temperature does water boil?",
            "What temperature does water boil at?",
            "What's water's boiling point?",
        ),
        {
            NEG: ("What is the freezing point of water?",),
            SCOPE: (
                "What is the boiling point of water at high altitude?",
                "What is the boiling point of water in Fahrenheit?",
            ),
            ENT: ("What is the boiling point of ethanol?",),
        },
    ),
    Family(
        "Give me a recipe for pancakes.",
        (
            "How do I make pancakes? I need a recipe.",
            "Can you share a pancake recipe?",
            "What's a good recipe for pancakes?",
        ),
        {
            SCOPE: ("Give me a vegan recipe for pancakes.", "Give me a recipe for pancakes without eggs."),
            ENT: ("Give me a recipe for waffles.",),
            NUM: ("Give me a recipe for 20 pancakes.",),
        },
    ),
    Family(
        "How do I ask for a raise?",
        (
            "What's the best way to ask my boss for a raise?",
            "How should I approach asking for a pay raise?",
            "Tips for asking for a raise?",
        ),
        {
            ENT: ("How do I ask for a promotion?",),
            SCOPE: ("How do I ask for a raise after only six months?",),
        },
    ),
    Family(
        "Explain recursion to a beginner.",
        (
            "Can you explain recursion in simple terms?",
            "What is recursion? Explain it like I'm new to programming.",
            "Explain the concept of recursion for beginners.",
        ),
        {
            ENT: ("Explain iteration to a beginner.",),
            NEG: ("Explain recursion to an expert.",),
            SCOPE: ("Explain tail recursion to a beginner.",),
        },
    ),
    Family(
        "What is the population of Canada?",
        (
            "How many people live in Canada?",
            "What's Canada's population?",
            "How many inhabitants does Canada have?",
        ),
        {
            ENT: ("What is the population of Toronto?", "What is the population of Mexico?"),
            NUM: ("What was the population of Canada in 1950?",),
        },
    ),
    Family(
        "How do I remove a stripped screw?",
        (
            "How can I get a stripped screw out?",
            "What's the trick for removing a screw with a stripped head?",
            "Best way to remove a stripped screw?",
        ),
        {ENT: ("How do I remove a rusted bolt?",), NEG: ("How do I avoid stripping a screw?",)},
    ),
    Family(
        "What are the side effects of ibuprofen?",
        (
            "What side effects can ibuprofen cause?",
            "Does ibuprofen have side effects?",
            "List the side effects of ibuprofen.",
        ),
        {
            ENT: ("What are the side effects of acetaminophen?",),
            SCOPE: (
                "What are the long-term side effects of ibuprofen?",
                "What are the side effects of ibuprofen in children?",
            ),
            NUM: ("What are the side effects of taking 800 mg of ibuprofen?",),
        },
    ),
    Family(
        "Should I use tabs or spaces for indentation?",
        (
            "Tabs or spaces: which should I use to indent code?",
            "Is it better to indent with spaces or tabs?",
            "Which is better for indentation, tabs or spaces?",
        ),
        {SCOPE: ("Should I use tabs or spaces for indentation in Python?",)},
    ),
    Family(
        "What is the speed of light?",
        (
            "How fast does light travel?",
            "What's the speed of light in a vacuum?",
            "How fast is the speed of light?",
        ),
        {ENT: ("What is the speed of sound?",), SCOPE: ("What is the speed of light in water?",)},
    ),
    Family(
        "How can I improve my credit score?",
        (
            "What are ways to raise my credit score?",
            "How do I boost my credit score?",
            "Tips to improve my credit score?",
        ),
        {
            NEG: ("What lowers my credit score?",),
            NUM: ("How can I improve my credit score by 100 points?",),
            ENT: ("How can I improve my credit report?",),
        },
    ),
    Family(
        "Write a cover letter for a junior data analyst position.",
        (
            "Can you draft a cover letter for a junior data analyst job?",
            "I need a cover letter for an entry-level data analyst role.",
            "Help me write a cover letter applying for a junior data analyst position.",
        ),
        {
            NEG: ("Write a cover letter for a senior data analyst position.",),
            ENT: ("Write a cover letter for a junior data engineer position.",),
            SCOPE: ("Write a resignation letter for a junior data analyst position.",),
        },
    ),
    Family(
        "What's the difference between affect and effect?",
        (
            "When do I use affect versus effect?",
            "Affect vs effect: what's the difference?",
            "How do 'affect' and 'effect' differ?",
        ),
        {ENT: ("What's the difference between then and than?",)},
    ),
    Family(
        "How do I sort a dictionary by value in Python?",
        (
            "How can I sort a Python dict by its values?",
            "Python: sort dict by value",
            "What's the way to order a dictionary by value in Python?",
        ),
        {
            ENT: (
                "How do I sort a dictionary by key in Python?",
                "How do I sort a list of tuples by value in Python?",
            ),
            SCOPE: ("How do I sort a dictionary by value in descending order in Python?",),
        },
    ),
    Family(
        "What's the tallest mountain in Africa?",
        (
            "Which mountain is the highest in Africa?",
            "What is Africa's highest mountain?",
            "Name the tallest mountain in Africa.",
        ),
        {
            ENT: ("What's the tallest mountain in Europe?",),
            NEG: ("What's the lowest point in Africa?",),
            NUM: ("What's the second tallest mountain in Africa?",),
        },
    ),
    Family(
        "Can dogs eat grapes?",
        ("Are grapes safe for dogs?", "Is it okay to give my dog grapes?", "Can I feed grapes to my dog?"),
        {ENT: ("Can cats eat grapes?", "Can dogs eat blueberries?"), NEG: ("Why can't dogs eat grapes?",)},
    ),
    Family(
        "How do I set up a Python virtual environment?",
        (
            "How can I create a virtualenv for Python?",
            "What are the steps to create a Python virtual environment?",
            "How to make a venv in Python?",
        ),
        {
            NEG: ("How do I delete a Python virtual environment?",),
            SCOPE: ("How do I set up a Python virtual environment on Windows?",),
            ENT: ("How do I set up a conda environment?",),
        },
    ),
    Family(
        "What year did the Berlin Wall fall?",
        (
            "When did the Berlin Wall come down?",
            "In which year was the Berlin Wall torn down?",
            "When was the fall of the Berlin Wall?",
        ),
        {NEG: ("What year was the Berlin Wall built?",), ENT: ("What year did the Soviet Union collapse?",)},
    ),
    Family(
        "How do I write a for loop in JavaScript?",
        (
            "What's the syntax for a for loop in JavaScript?",
            "How can I write a for loop in JS?",
            "JavaScript for loop syntax?",
        ),
        {ENT: ("How do I write a while loop in JavaScript?", "How do I write a for loop in Rust?")},
    ),
    Family(
        "Is it better to rent or buy a house?",
        (
            "Should I buy or rent a home?",
            "Renting vs buying a house: which is better?",
            "Which is the better choice, renting or buying a house?",
        ),
        {
            ENT: ("Is it better to rent or buy a house in San Francisco?",),
            NUM: ("Is it better to rent or buy a house if I'm moving in two years?",),
        },
    ),
    Family(
        "What's the weather usually like in Lisbon in October?",
        (
            "How is the weather in Lisbon in October?",
            "What kind of weather can I expect in Lisbon during October?",
            "Lisbon weather in October?",
        ),
        {
            NUM: ("What's the weather usually like in Lisbon in January?",),
            ENT: ("What's the weather usually like in Porto in October?",),
        },
    ),
    Family(
        "How many ounces are in a cup?",
        (
            "How many ounces make a cup?",
            "A cup equals how many ounces?",
            "What's the number of ounces in one cup?",
        ),
        {
            NUM: ("How many ounces are in two cups?",),
            ENT: ("How many ounces are in a pint?", "How many grams are in a cup?"),
        },
    ),
    Family(
        "Proofread this sentence: 'Their going to the store tomorrow.'",
        (
            "Can you fix the grammar in: 'Their going to the store tomorrow.'",
            "Correct this sentence: 'Their going to the store tomorrow.'",
            "Please check this sentence for errors: 'Their going to the store tomorrow.'",
        ),
        {
            ENT: ("Proofread this sentence: 'Their going to the park tomorrow.'",),
            NUM: ("Proofread this sentence: 'Their going to the store today.'",),
        },
    ),
    Family(
        "What are the health benefits of green tea?",
        (
            "What benefits does green tea have for health?",
            "How is green tea good for your health?",
            "Why is green tea healthy?",
        ),
        {
            NEG: ("What are the health risks of green tea?",),
            ENT: ("What are the health benefits of black tea?",),
        },
    ),
    Family(
        "How do I change a flat tire?",
        (
            "What are the steps for changing a flat tire?",
            "How can I replace a flat tire on my car?",
            "Walk me through changing a flat tire.",
        ),
        {SCOPE: ("How do I patch a flat tire?", "How do I change a flat bike tire?")},
    ),
    Family(
        "Generate a regex that matches US phone numbers.",
        (
            "Write a regular expression for US phone numbers.",
            "I need a regex to match phone numbers in the US format.",
            "What regex matches a US phone number?",
        ),
        {
            ENT: (
                "Generate a regex that matches UK phone numbers.",
                "Generate a regex that matches US zip codes.",
            ),
            NEG: ("Generate a regex that matches anything except US phone numbers.",),
        },
    ),
    Family(
        "Who wrote Pride and Prejudice?",
        (
            "Who is the author of Pride and Prejudice?",
            "Pride and Prejudice was written by whom?",
            "Which author wrote Pride and Prejudice?",
        ),
        {ENT: ("Who wrote Sense and Sensibility?",), SCOPE: ("When was Pride and Prejudice written?",)},
    ),
    Family(
        "How do I stop my cat from scratching the couch?",
        (
            "How can I keep my cat from scratching the sofa?",
            "What can I do to stop my cat scratching the couch?",
            "My cat keeps scratching the couch. How do I make it stop?",
        ),
        {
            ENT: ("How do I stop my dog from chewing the couch?",),
            SCOPE: ("Why does my cat scratch the couch?",),
        },
    ),
    Family(
        "What is a good beginner workout routine?",
        (
            "Can you suggest a workout routine for beginners?",
            "What's a simple exercise routine for someone just starting out?",
            "Recommend a beginner-friendly workout plan.",
        ),
        {
            SCOPE: ("What is a good beginner workout routine for building muscle at home?",),
            NUM: ("What is a good 20-minute beginner workout routine?",),
            NEG: ("What is a good advanced workout routine?",),
        },
    ),
    Family(
        "How do I read a CSV file in pandas?",
        (
            "How can I load a CSV into a pandas DataFrame?",
            "What's the pandas function for reading CSV files?",
            "Read CSV with pandas?",
        ),
        {
            NEG: ("How do I write a CSV file in pandas?",),
            ENT: ("How do I read an Excel file in pandas?",),
            SCOPE: ("How do I read a CSV file in pandas without the header row?",),
        },
    ),
    Family(
        "What is the minimum wage in California?",
        (
            "What's California's minimum wage?",
            "How much is the minimum wage in California?",
            "Minimum wage in CA?",
        ),
        {
            ENT: ("What is the minimum wage in Texas?",),
            NUM: ("What was the minimum wage in California in 2015?",),
        },
    ),
    Family(
        "Tell me a joke about programmers.",
        (
            "Do you know any jokes about programmers?",
            "Tell me a programmer joke.",
            "I'd like to hear a joke about programmers.",
        ),
        {ENT: ("Tell me a joke about lawyers.",), NUM: ("Tell me three jokes about programmers.",)},
    ),
    Family(
        "How do I merge two dictionaries in Python?",
        (
            "What's the way to combine two dicts in Python?",
            "How can I merge a pair of Python dictionaries?",
            "Python: merge two dictionaries",
        ),
        {
            NUM: ("How do I merge three dictionaries in Python?",),
            ENT: ("How do I merge two lists in Python?",),
        },
    ),
    Family(
        "Why do cats purr?",
        ("What makes cats purr?", "What's the reason cats purr?", "Why does a cat purr?"),
        {ENT: ("Why do cats knead?", "Why do lions roar?"), NEG: ("Why do some cats never purr?",)},
    ),
    Family(
        "How do I politely decline a meeting invitation?",
        (
            "What's a polite way to turn down a meeting invite?",
            "How can I decline a meeting request politely?",
            "Give me a polite way to say no to a meeting invitation.",
        ),
        {
            NEG: ("How do I politely accept a meeting invitation?",),
            SCOPE: ("How do I politely decline a meeting invitation from my CEO?",),
        },
    ),
    Family(
        "What is the derivative of sin(x)?",
        ("Differentiate sin(x).", "What's d/dx of sin x?", "What is the derivative of the sine function?"),
        {
            ENT: ("What is the derivative of cos(x)?", "What is the integral of sin(x)?"),
            NUM: ("What is the derivative of sin(2x)?",),
        },
    ),
    Family(
        "Can you recommend a laptop for video editing?",
        (
            "What laptop should I buy for video editing?",
            "Which laptops are good for video editing?",
            "Suggest a good laptop for editing videos.",
        ),
        {
            NUM: ("Can you recommend a laptop for video editing under $1000?",),
            ENT: ("Can you recommend a laptop for gaming?",),
        },
    ),
    Family(
        "What's the plural of 'cactus'?",
        ("What is the plural form of cactus?", "How do you pluralize 'cactus'?", "Plural of cactus?"),
        {ENT: ("What's the plural of 'octopus'?",), NEG: ("What's the singular of 'cacti'?",)},
    ),
    Family(
        f"Summarize this review: '{REVIEW}'",
        (
            f"Please summarize the following review: '{REVIEW}'",
            f"Can you summarize this customer review? '{REVIEW}'",
            f"Summarize: '{REVIEW}'",
        ),
        {
            NEG: (f"Summarize this review: '{REVIEW.replace('were friendly', 'were not friendly')}'",),
            ENT: (f"Summarize this review: '{REVIEW.replace('breakfast', 'dinner')}'",),
            SCOPE: (
                f"Translate this review into French: '{REVIEW}'",
                f"What is the sentiment of this review: '{REVIEW}'",
            ),
        },
    ),
    Family(
        "What does this function return for x = 3? def f(x): return x * 2 + 1",
        (
            "Given def f(x): return x * 2 + 1, what is f(3)?",
            "What is the return value of this function when x = 3? def f(x): return x * 2 + 1",
            "def f(x): return x * 2 + 1 -- what does f(3) return?",
        ),
        {
            NUM: (
                "What does this function return for x = 4? def f(x): return x * 2 + 1",
                "What does this function return for x = 3? def f(x): return x * 3 + 1",
            ),
        },
    ),
    Family(
        f"Write a reply to this email: '{EMAIL}'",
        (
            f"Draft a response to this email: '{EMAIL}'",
            f"Help me reply to this email: '{EMAIL}'",
            f"How should I answer this email? '{EMAIL}'",
        ),
        {
            NUM: (
                f"Write a reply to this email: '{EMAIL.replace('Thursday', 'Wednesday')}'",
                f"Write a reply to this email: '{EMAIL.replace('3pm', '4pm')}'",
            ),
            ENT: (f"Write a reply to this email: '{SWAPPED_EMAIL}'",),
            NEG: (f"Write a reply declining this email: '{EMAIL}'",),
        },
    ),
    Family(
        f"{CLASSIFY}'{TWEET}'",
        (
            f"Is this tweet positive or negative? '{TWEET}'",
            f"What is the sentiment (positive or negative) of this tweet: '{TWEET}'",
            f"Tell me whether this tweet is positive or negative: '{TWEET}'",
        ),
        {
            NEG: (
                f"{CLASSIFY}'{NEGATED_TWEET}'",
                f"{CLASSIFY}'{TWEET.replace('the battery lasts forever', 'but the battery dies fast')}'",
            ),
        },
    ),
    Family(
        f"Extract the names of all people mentioned in this text: '{MEETING}'",
        (
            f"List every person named in this text: '{MEETING}'",
            f"Which people are mentioned in this text? '{MEETING}'",
            f"Find all person names in: '{MEETING}'",
        ),
        {
            SCOPE: (f"Extract the names of all places mentioned in this text: '{MEETING}'",),
            ENT: (f"Extract the names of all people mentioned in this text: '{OTHER_MEETING}'",),
        },
    ),
    Family(
        "Fix the bug in this code: for i in range(10) print(i)",
        (
            "What's wrong with this code and how do I fix it? for i in range(10) print(i)",
            "Debug this code: for i in range(10) print(i)",
            "Please correct this code: for i in range(10) print(i)",
        ),
        {
            NUM: ("Fix the bug in this code: for i in range(20) print(i)",),
            SCOPE: ("Explain this code: for i in range(10) print(i)",),
        },
    ),
    Family(
        "Give me three tips for better sleep.",
        (
            "What are three ways to sleep better?",
            "Share 3 tips for improving my sleep.",
            "List three tips to get better sleep.",
        ),
        {
            NUM: ("Give me ten tips for better sleep.",),
            NEG: ("Give me three habits that ruin sleep.",),
            SCOPE: ("Give me three tips for better sleep for night-shift workers.",),
        },
    ),
    Family(
        "How much water should I drink every day?",
        (
            "What is the recommended daily water intake?",
            "How many liters of water should I drink per day?",
            "How much water do I need to drink daily?",
        ),
        {
            SCOPE: ("How much water should I drink every day while running a marathon?",),
            ENT: ("How much coffee should I drink every day?",),
        },
    ),
)

FRAMES: tuple[Frame, ...] = (
    Frame(
        "capital",
        ENT,
        (
            "What is the capital of {x}?",
            "Which city is the capital of {x}?",
            "What's {x}'s capital city?",
            "Tell me the capital of {x}.",
        ),
        tuple(
            {"x": c} for c in ("France", "Japan", "Brazil", "Canada", "Kenya", "Norway", "Vietnam", "Peru")
        ),
    ),
    Frame(
        "miles",
        NUM,
        (
            "Convert {x} miles to kilometers.",
            "How many kilometers is {x} miles?",
            "What is {x} miles in kilometers?",
            "{x} miles to km",
        ),
        tuple({"x": n} for n in ("3", "5", "12", "26.2", "100", "250", "7", "40")),
        swap=("Convert {x} kilometers to miles.",),
    ),
    Frame(
        "weekday",
        NUM,
        (
            "What day of the week was {x}?",
            "Which weekday did {x} fall on?",
            "On what day of the week was {x}?",
        ),
        tuple(
            {"x": d}
            for d in (
                "March 14, 2015",
                "July 4, 1976",
                "January 1, 2000",
                "October 31, 2019",
                "February 29, 2024",
                "December 25, 1990",
                "June 6, 1944",
                "March 15, 2015",
            )
        ),
    ),
    Frame(
        "percent",
        NUM,
        ("What is {a}% of {b}?", "Calculate {a} percent of {b}.", "How much is {a}% of {b}?"),
        tuple(
            {"a": a, "b": b}
            for a, b in (
                ("15", "80"),
                ("20", "350"),
                ("7", "120"),
                ("35", "60"),
                ("12.5", "400"),
                ("15", "90"),
            )
        ),
        swap=("What is {b}% of {a}?",),
        swap_category=NUM,
    ),
    Frame(
        "timezone",
        ENT,
        (
            "What time is it in {a} when it's {b} in New York?",
            "If it's {b} in New York, what time is it in {a}?",
            "Convert {b} New York time to {a} time.",
        ),
        tuple(
            {"a": a, "b": b}
            for a, b in (
                ("Tokyo", "9am"),
                ("London", "3pm"),
                ("Sydney", "8pm"),
                ("Berlin", "noon"),
                ("Dubai", "6am"),
            )
        ),
        swap=("What time is it in New York when it's {b} in {a}?",),
    ),
    Frame(
        "distance",
        ENT,
        (
            "How far is {a} from {b}?",
            "What is the distance between {a} and {b}?",
            "What's the distance from {a} to {b}?",
        ),
        tuple(
            {"a": a, "b": b}
            for a, b in (
                ("Paris", "Rome"),
                ("Chicago", "Denver"),
                ("Madrid", "Lisbon"),
                ("Boston", "Montreal"),
                ("Delhi", "Mumbai"),
                ("Oslo", "Stockholm"),
            )
        ),
        symmetric=("How far is {b} from {a}?", "What is the distance between {b} and {a}?"),
    ),
    Frame(
        "bigger",
        ENT,
        ("Is {a} bigger than {b}?", "Is {a} larger than {b}?", "Is {a} larger in area than {b}?"),
        tuple(
            {"a": a, "b": b}
            for a, b in (
                ("Texas", "France"),
                ("Alaska", "Iran"),
                ("Greenland", "Mexico"),
                ("Spain", "Sweden"),
                ("Ontario", "Egypt"),
            )
        ),
        swap=("Is {b} bigger than {a}?", "Is {a} smaller than {b}?"),
    ),
    Frame(
        "party",
        NUM,
        (
            "Plan a birthday party for a {x}-year-old.",
            "Give me birthday party ideas for a child turning {x}.",
            "What should I do for my kid's birthday party? They're turning {x}.",
        ),
        tuple({"x": n} for n in ("4", "6", "7", "10", "13")),
    ),
    Frame(
        "scale",
        NUM,
        (
            "Scale this recipe from {a} servings to {b} servings.",
            "Adjust this recipe, which serves {a}, so it serves {b}.",
            "Convert this recipe for {a} people into one for {b} people.",
        ),
        tuple({"a": a, "b": b} for a, b in (("4", "10"), ("2", "6"), ("8", "3"), ("6", "12"), ("5", "20"))),
        swap=("Scale this recipe from {b} servings to {a} servings.",),
    ),
    Frame(
        "fahrenheit",
        NUM,
        ("Convert {x}°F to Celsius.", "What is {x} degrees Fahrenheit in Celsius?", "{x} F in C?"),
        tuple({"x": n} for n in ("98.6", "350", "72", "-40", "212", "32")),
        swap=("Convert {x}°C to Fahrenheit.",),
    ),
    Frame(
        "on_this_day",
        NUM,
        (
            "What happened on {x}?",
            "What major event took place on {x}?",
            "What is {x} known for historically?",
        ),
        tuple(
            {"x": d}
            for d in (
                "July 20, 1969",
                "November 9, 1989",
                "July 21, 1969",
                "April 15, 1912",
                "November 9, 1938",
            )
        ),
    ),
    Frame(
        "earnings",
        NUM,
        (
            "Summarize {a}'s Q{q} {y} earnings.",
            "Give me a summary of {a}'s earnings for Q{q} {y}.",
            "How did {a} do in Q{q} {y}? Summarize the earnings report.",
        ),
        tuple(
            {"a": a, "q": q, "y": y}
            for a, q, y in (
                ("Apple", "3", "2023"),
                ("Apple", "4", "2023"),
                ("Nvidia", "2", "2024"),
                ("Nvidia", "2", "2023"),
                ("Tesla", "1", "2024"),
                ("Microsoft", "1", "2024"),
            )
        ),
    ),
)

FOLLOWUPS: tuple[Followup, ...] = (
    Followup(
        (("What is the capital of France?", "The capital of France is Paris."),),
        ("What about Germany?", "And for Germany?", "How about Germany?"),
        ("What about Spain?", "What about its population?"),
        (("What is the population of France?", "France has about 68 million people."),),
    ),
    Followup(
        (("How do I reverse a list in Python?", "Use my_list.reverse() or slicing: my_list[::-1]."),),
        ("How about in JavaScript?", "And in JavaScript?", "What's the JavaScript equivalent?"),
        ("How about in Ruby?", "How about sorting it?"),
        (("How do I sort a list in Python?", "Use sorted(my_list) or my_list.sort()."),),
    ),
    Followup(
        (
            (
                "Give me a recipe for banana bread.",
                "Mash 3 bananas, mix with flour, sugar, eggs and butter, bake 60 min.",
            ),
        ),
        ("Can you make it vegan?", "How do I make that vegan?", "Make it vegan, please."),
        ("Can you make it gluten-free?", "Can you make it for 12 people?"),
        (("Give me a recipe for chocolate cake.", "Mix flour, cocoa, sugar, eggs and butter, bake 35 min."),),
    ),
    Followup(
        (
            (
                "Write a short poem about the sea.",
                "Waves that whisper, tides that roam, / the sea calls every sailor home.",
            ),
        ),
        ("Make it shorter.", "Can you shorten it?", "Shorten that poem."),
        ("Make it longer.", "Make it rhyme less."),
        (
            (
                "Write a short poem about the mountains.",
                "Stone that listens, snow that stays, / peaks that hold the sky for days.",
            ),
        ),
    ),
    Followup(
        (("What's the weather like in Rome in July?", "Hot and sunny, usually 30-33°C."),),
        ("And in December?", "What about December?", "How is it in December?"),
        ("And in August?", "What should I pack?"),
        (("What's the weather like in Madrid in July?", "Very hot and dry, often above 35°C."),),
    ),
    Followup(
        (("Who directed Inception?", "Christopher Nolan directed Inception (2010)."),),
        ("What else has he directed?", "What other movies did he direct?", "Which other films has he made?"),
        ("Who starred in it?", "When was it released?"),
        (("Who directed Jaws?", "Steven Spielberg directed Jaws (1975)."),),
    ),
    Followup(
        (("Translate 'thank you' into French.", "Merci."),),
        ("And into German?", "How about German?", "What is it in German?"),
        ("And into Italian?", "How do I pronounce it?"),
        (("Translate 'hello' into French.", "Bonjour."),),
    ),
    Followup(
        (("How many moons does Jupiter have?", "Jupiter has 95 known moons."),),
        ("What about Saturn?", "And Saturn?", "How many does Saturn have?"),
        ("What about Neptune?", "Which one is the largest?"),
        (("How big is Jupiter?", "Jupiter's diameter is about 140,000 km."),),
    ),
    Followup(
        (("Explain what a REST API is.", "A REST API exposes resources over HTTP using standard verbs."),),
        ("Can you give me an example?", "Show me an example.", "Could you give an example of one?"),
        ("Can you give me two examples?", "What are its disadvantages?"),
        (("Explain what GraphQL is.", "GraphQL is a query language for APIs with a typed schema."),),
    ),
    Followup(
        (("Convert 10 kilometers to miles.", "10 km is about 6.21 miles."),),
        ("And 20?", "What about 20 kilometers?", "How about 20 km?"),
        ("And 25?", "And to feet?"),
        (("Convert 10 kilograms to pounds.", "10 kg is about 22.05 lb."),),
    ),
    Followup(
        (
            (
                "Is it safe to swim after eating?",
                "Yes, for most people; the old warning is not supported by evidence.",
            ),
        ),
        ("What about for kids?", "Is that also true for children?", "And for children?"),
        ("What about in the ocean?", "Why do people believe it?"),
        (("Is it safe to drive after a flu shot?", "Yes, a flu shot does not affect driving."),),
    ),
    Followup(
        (("Recommend a sci-fi novel.", "Try 'The Left Hand of Darkness' by Ursula K. Le Guin."),),
        ("Another one?", "Can you recommend another?", "Give me one more."),
        ("Something shorter?", "Is it part of a series?"),
        (("Recommend a fantasy novel.", "Try 'A Wizard of Earthsea' by Ursula K. Le Guin."),),
    ),
)

# Requests used for the structural pairs: the same words under a different system prompt, model
# or tool list. The scope must keep them apart whatever the embedding says.
STRUCTURAL_TEXTS: tuple[str, ...] = (
    "How do I reset my password?",
    "Summarize the plot of Hamlet.",
    "What is the boiling point of water?",
    "Write a haiku about autumn.",
    "Tell me a joke about programmers.",
    "What's the best time to visit Japan?",
    "How do I install numpy?",
    "Explain recursion to a beginner.",
    "What causes inflation?",
    "Can dogs eat grapes?",
)

SYSTEM_PROMPTS: tuple[str, ...] = (
    "You are a helpful assistant.",
    "You are a pirate. Answer everything in pirate speak.",
    "Answer in French.",
    "You are a terse assistant. Reply in at most ten words.",
)
