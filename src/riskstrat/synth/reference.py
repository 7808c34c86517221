"""Non-clinical reference lists for the synthetic plan: names, places, hospitals, free text.

Clinical codes never live here; they come from :mod:`riskstrat.features.codesets`. Every name below is
invented or generic; phone numbers use the 555-01xx range reserved for fiction.
"""

from __future__ import annotations

PAYER = "georgia medicaid"
PLAN = "peachtree kids and families"
STATE = "GA"
DATA_SOURCE = "peachtree_extract"

# Enumerations of inputs.md, in the order the generator indexes them.
GENDERS = ("female", "male", "unknown")
RELATIONS = ("self", "child", "spouse", "other")
# Tuva race values; the Medicaid mix in Georgia is majority Black and white with ~8% unknown.
RACES = ("black or african american", "white", "asian", "american indian or alaska native",
         "native hawaiian or other pacific islander", "other race", "unknown")
RACE_WEIGHTS = (0.46, 0.36, 0.03, 0.005, 0.005, 0.06, 0.08)
ETHNICITIES = ("not hispanic", "hispanic", "unknown")
AID_CATEGORIES = ("tanf", "ssi_disabled", "foster_care", "adoption_assistance", "chip", "other")
PAYER_TYPES = ("medicaid", "chip")
CLAIM_TYPES = ("professional", "institutional")
CLAIM_STATUSES = ("paid", "denied", "reversed")
DISPOSITIONS = ("discharged", "admitted", "transferred", "left_without_being_seen", "expired")
PROGRAMS = ("stronger_together", "cares", "wraparound", "life_services", "other")
CM_STATUSES = ("referred", "enrolled", "declined", "unable_to_reach", "discharged")
INSTRUMENTS = ("prapare", "ahc_hrsn", "cans", "other")
SDOH_DOMAINS = ("housing_instability", "food_insecurity", "transportation", "utilities",
                "interpersonal_safety", "caregiver_stress", "education", "employment")
SDOH_RESULTS = ("positive", "negative", "declined")
AGENCIES = ("Peachtree Care Coordination", "Southern Family Services", "Coastal Behavioral Partners",
            "Piedmont Youth Network")

FIRST_FEMALE = ("Aaliyah", "Amara", "Ava", "Brianna", "Camila", "Chloe", "Destiny", "Emma", "Gabriela",
                "Harper", "Imani", "Jasmine", "Kayla", "Layla", "Madison", "Maria", "Maya", "Nevaeh",
                "Olivia", "Paisley", "Riley", "Sofia", "Taylor", "Valeria", "Zoe", "Tasha", "Monique",
                "Heather", "Crystal", "Ashley")
FIRST_MALE = ("Aiden", "Andre", "Bryson", "Caleb", "Carlos", "Darius", "Elijah", "Ethan", "Isaiah",
              "Jaden", "Jayden", "Josiah", "Kevin", "Liam", "Logan", "Malik", "Mason", "Mateo", "Noah",
              "Omar", "Robert", "Samuel", "Tyler", "Xavier", "Zion", "Marcus", "Dustin", "Cody",
              "Terrence", "Luis")
LAST_NAMES = ("Adams", "Allen", "Bailey", "Baker", "Bell", "Brooks", "Brown", "Butler", "Carter",
              "Coleman", "Cooper", "Davis", "Dixon", "Edwards", "Ellis", "Evans", "Fields", "Garcia",
              "Gibson", "Graham", "Green", "Hall", "Harris", "Hayes", "Henderson", "Hill", "Holmes",
              "Howard", "Hudson", "Jackson", "James", "Jenkins", "Johnson", "Jones", "Jordan", "King",
              "Lee", "Lewis", "Lopez", "Martin", "Mitchell", "Moore", "Morris", "Murphy", "Nelson",
              "Parker", "Perry", "Powell", "Price", "Reed", "Robinson", "Rodriguez", "Ross", "Sanders",
              "Scott", "Simmons", "Smith", "Stewart", "Taylor", "Thomas", "Thompson", "Tucker",
              "Turner", "Walker", "Ward", "Washington", "Watson", "White", "Williams", "Wilson",
              "Wood", "Wright", "Young")
STREETS = ("Peachtree St", "Magnolia Ave", "Oak Ridge Dr", "Pine St", "Dogwood Ln", "Cherry St",
           "Mulberry St", "Cotton Ave", "Riverside Dr", "Church St", "Martin Luther King Jr Blvd",
           "Forsyth St", "Broad St", "Jefferson St", "Pecan Dr", "Cedar Ln", "Hillcrest Ave",
           "Lakeview Dr", "Maple St", "Walnut St")
# (city, zip3, area code, weight): Georgia cities with their real zip prefixes.
CITIES = (
    ("Atlanta", "303", "404", 0.26), ("Decatur", "300", "404", 0.05), ("Marietta", "300", "770", 0.05),
    ("Macon", "312", "478", 0.08), ("Savannah", "314", "912", 0.08), ("Augusta", "309", "706", 0.08),
    ("Columbus", "319", "706", 0.08), ("Albany", "317", "229", 0.06), ("Athens", "306", "706", 0.05),
    ("Valdosta", "316", "229", 0.05), ("Rome", "301", "706", 0.04), ("Gainesville", "305", "770", 0.04),
    ("Dalton", "307", "706", 0.03), ("Warner Robins", "310", "478", 0.05),
)
# Hospitals sending ADT; about one in six does not feed the HIE, so its ED visits show only in claims.
HOSPITALS = (
    ("Peachtree Children's Hospital", True), ("Grady Memorial Hospital", True),
    ("Middle Georgia Medical Center", True), ("Coastal Georgia Regional", True),
    ("Augusta University Children's", True), ("Chattahoochee Valley Hospital", False),
    ("Southwest Georgia Regional", True), ("Northeast Georgia Children's", True),
    ("South Georgia Medical Center", False), ("Floyd County Hospital", True),
    ("Hamilton Valley Medical Center", True), ("Houston County Medical Center", True),
)
# Free-text chief complaints by the reason for the visit (acute illness, injury, chronic flare, BH).
CHIEF_COMPLAINTS = (
    ("fever", "cough", "vomiting", "abdominal pain", "ear pain", "rash", "sore throat", "headache", "diarrhea"),
    ("fall", "laceration", "arm injury", "ankle injury", "head injury", "dog bite"),
    ("difficulty breathing", "wheezing", "seizure", "pain crisis", "high blood sugar", "shortness of breath"),
    ("suicidal thoughts", "behavior problem", "aggressive behavior", "anxiety", "overdose", "self harm",
     "psychiatric evaluation", "agitation", "hearing voices"),
)
