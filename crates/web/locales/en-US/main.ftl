# English strings of Tianping's web pages (the second language).
# Every message id must also be in zh-CN/main.ftl, with the same variables; a test checks.
# Convention: ids start with the page or part they belong to (nav-, home-, form-, error-, …),
# lowercase, words joined by hyphens.

## Common

brand = 天平 Tianping
skip-to-content = Skip to main content
language-zh-CN = 中文
language-en-US = English
lang-switch-label = Language:

## Navigation

nav-label = Main navigation
nav-home = Home
nav-login = Sign in
nav-signup = Create account
nav-privacy = Privacy centre
nav-verification-queue = Verification queue
nav-blacklist = Blacklist
nav-sign-out = Sign out
nav-signed-in-as = Signed in as { $name }

## Footer

footer-tagline = Tianping is an open-source risk-sharing platform for Internet healthcare, run as a neutral party and open around the clock.
footer-licence = The source code is published under the Apache-2.0 licence.

## Home page

home-title = Home
home-heading = Sharing the risks of Internet healthcare
home-lead = Tianping stands between patients, medical providers and insurers as a neutral third party. It offers legal aid, mediation and compensation, and through medical liability and medical accident insurance it pays the injured patient directly once liability is settled.
home-cta-signup = Create an account
home-cta-login = Already registered? Sign in
home-services-heading = Who it is for
home-patients-heading = Patients and relatives
home-patients-body = File complaints and claims, ask for mediation and legal aid, all free of charge; follow every case and each of its deadlines; manage your consents and see who read your data, when and why.
home-providers-heading = Hospitals, Internet hospitals and doctors
home-providers-body = Answer complaints, take part in mediation, hold liability insurance, seal medical records together with the patient and see your institution's compliance report.
home-insurers-heading = Insurers
home-insurers-body = Handle a dispute from intervention to payout in one flow: check cover, set reserves, settle the claim and pursue recourse.
home-evidence-heading = Evidence you can prove
home-evidence-body = Every consultation message, call recording, prescription, consent decision and data access is stored encrypted and recorded in a tamper-evident Merkle log. When a dispute comes years later, a mediator, an insurer or a court can still check for themselves that none of it was changed.
home-neutral-body = Every user has permissions of their own; data passes between the parties only through encrypted interfaces, and is used only with the user's permission.

## Forms

form-optional = (optional)
form-error-prefix = Error:{" "}

## Error pages

error-bad-request-title = Invalid request
error-csrf = The form has expired or its origin could not be confirmed. Go back, reload the page and try again.
error-lang-input = The chosen language or the return address is not valid.
error-not-found-title = Page not found
error-not-found-body = The page you asked for does not exist or has been removed.
error-access-denied-title = Access denied
error-access-denied-body = You are not allowed to see this.
error-operators-only = This page is for platform operators only.
error-back-home = Back to the home page
error-internal-title = Something went wrong on our side
error-internal-body = The page could not be produced. Please try again later; if the problem persists, contact the platform operator.

## Accounts: sign-up, login, second factor

form-invalid = The form could not be read. Please check it and try again.
field-choose = Please choose
field-role = I am a
field-login = Login name
field-login-hint = 3 to 32 lowercase letters, digits, _ . or -
field-display-name = Full name
field-password = Password
field-password-hint = At least 10 characters, not your login name
field-resident-id = Resident ID number
field-resident-id-hint = For real-name verification; the platform keeps only an encrypted copy and a keyed hash to detect duplicates
field-phone = Mobile number
field-licence = Practising certificate number
field-institution = Institution
field-specialty = Specialty
field-practice-years = Years of independent practice
field-totp-code = 6-digit code
field-totp-or-recovery = Code or recovery code
signup-title = Sign up
signup-lead = Please sign up under your real identity. Doctors are checked by a platform operator before they can see patients or their data.
signup-doctor-legend = Doctor's practice details
signup-doctor-hint = Doctors only
signup-submit = Sign up
signup-role-invalid = Please choose who you are
signup-institution-required = Please choose your institution
signup-specialty-invalid = Please enter your specialty (at most 40 characters)
signup-years-invalid = Please enter a whole number from 0 to 70
signup-login-taken = This login name is taken
signup-identity-taken = An account with this ID number or mobile number exists
signup-licence-taken = This certificate number belongs to another account
signup-blacklisted = Sign-up refused: this identity, certificate or mobile number is blacklisted
login-title = Sign in
login-submit = Sign in
login-no-account = No account yet? Sign up
login-bad-credentials = Wrong login name or password
login-locked = Too many failed attempts; the account is locked for a while
login-throttled = Too many sign-in attempts from your address; try again in a minute
login-suspended = The account is suspended or blacklisted
totp-enrol-title = Set up two-step verification
totp-enrol-lead = Staff accounts must use one-time codes. Add the key below to your authenticator app, then enter the 6-digit code it shows.
totp-enrol-secret = Key
totp-enrol-uri = Link
totp-enrol-submit = Confirm and turn on
totp-title = Two-step verification
totp-lead = Enter the 6-digit code from your authenticator, or an unused recovery code.
totp-submit = Verify
totp-bad-code = Wrong or already used code
recovery-title = Recovery codes
recovery-lead = Keep these codes safe. If you lose your phone, each one replaces a one-time code once. They are shown only now.
recovery-continue = I have saved them; continue

## Privacy centre

privacy-title = Privacy centre
privacy-lead = Who accessed your data, when, why and on what basis; your consents; download all your data.
privacy-access-heading = Access log
privacy-access-caption = Every decision on access to your data (refusals included), each committed to the tamper-evident evidence log
privacy-access-empty = Nobody has accessed your data yet.
privacy-col-when = When (UTC)
privacy-col-who = Who
privacy-col-action = Action
privacy-col-purpose = Purpose
privacy-col-outcome = Outcome
privacy-col-basis = Legal basis
privacy-col-log = Log entry
privacy-col-recipient = Recipient
privacy-col-category = Data category
privacy-col-notice = Notice
privacy-col-granted = Granted
privacy-col-state = State
privacy-consents-heading = My consents
privacy-consents-caption = The consents you gave (withdrawn ones stay in the history)
privacy-consents-empty = You have not given any consent yet.
privacy-by-guardian = given by a guardian
privacy-withdraw = Withdraw
privacy-withdrawn-at = Withdrawn at { $when }
privacy-grant-heading = Give a new consent
privacy-notices-summary = Read the notices in full
privacy-field-subject = On behalf of
privacy-subject-self = Myself
privacy-field-notice = Notice
privacy-field-category = Data category
privacy-field-recipient = Recipient organisation
privacy-field-separate = I separately consent to the processing of this sensitive personal information
privacy-field-separate-hint = Health data, identity documents and financial accounts are sensitive personal information and need separate consent (PIPL art. 29).
privacy-grant-submit = Consent
privacy-category-invalid = Please choose a data category
privacy-download-heading = Download my data
privacy-download-lead = Every record the platform keeps about you, decrypted, each with an inclusion proof you can verify offline.
privacy-download = Download (JSON)
record-title = Record
record-id = Record id
record-kind = Kind
record-time = Time of the event (UTC)
record-log-index = Evidence-log entry
record-access-recorded = This access is recorded in the patient's access log.
record-binary = (binary content; download it through the API)

## Operator

verify-title = Doctor verification
verify-lead = Check the certificate number, institution, specialty and years of independent practice, then decide; every decision is written to the evidence log.
verify-empty = No applications are waiting.
verify-submitted = Submitted
verify-note = Note (required to reject)
verify-approve = Verify
verify-reject = Reject
verify-decision-invalid = This decision cannot be made: the application was already decided, or a rejection has no reason.
blacklist-title = Blacklist
blacklist-lead = Suspend or blacklist doctors, organisations or people. Decisions take effect at once and are written to the evidence log; a blacklisted person cannot sign up again under a new account.
blacklist-field-kind = Target type
blacklist-field-target = Target
blacklist-field-target-hint = A login name for accounts; a name or id for organisations
blacklist-field-measure = Measure
blacklist-field-reason = Reason
blacklist-submit = Apply
blacklist-caption = Suspensions and blacklistings
blacklist-col-target = Target
blacklist-col-decided = Decided
blacklist-col-state = State
blacklist-empty = Nothing yet.
blacklist-lift = Lift
blacklist-lifted-at = Lifted at { $when }
sanction-kind-account = Account
sanction-kind-organisation = Organisation
sanction-measure-suspend = Suspend
sanction-measure-blacklist = Blacklist
sanction-target-unknown = No such target
sanction-invalid = Cannot apply: give a reason (at most 500 characters), and not against yourself.

## Domain codes (tianping-identity message keys)

error-invalid-resident-id = Not a valid resident ID number
error-invalid-phone = Not a valid mobile number
error-invalid-licence = The practising certificate number must be 15 digits
error-invalid-login-name = Login names are 3–32 letters, digits, _ . or -, starting with a letter or digit
error-invalid-display-name = Names are 1–40 characters without control characters
error-weak-password = Passwords are 10–128 characters, not one repeated character, and not the login name
error-unknown-role = Unknown role
error-unknown-org-kind = Unknown organisation kind
error-unknown-purpose = Unknown purpose
error-unknown-category = Unknown data category
error-unknown-action = Unknown action
error-unknown-legal-basis = Unknown legal basis
error-unknown-reason = Unknown access reason
error-invalid-totp-secret = Not a valid authenticator secret
error-consent-stale-notice = The notice has changed; please read the current version
error-consent-category-not-in-notice = The notice does not cover this kind of data
error-consent-guardian-required = Under 14: a guardian must consent
error-consent-not-guardian-of-adult = A guardian cannot consent for an adult
error-consent-separate-required = Sensitive personal information needs separate consent: tick the box
error-consent-already-withdrawn = This consent has already been withdrawn
access-own-data = Your own data
access-entrusted-source = The submitting partner reading back its own record
access-oversight-duty = The platform's oversight: verifying a doctor or enforcing a sanction
access-guardian-of-subject = As the guardian
access-consent-covers = With the person's consent
access-supervision-duty = Under a legal supervision duty
access-actor-suspended = Refused: account suspended
access-doctor-not-verified = Refused: doctor not yet verified
access-no-consent = Refused: no consent covers this access
access-operator-no-health-data = Refused: operators may not see sensitive data
access-purpose-not-allowed-for-role = Refused: this role may not access data for this purpose
legal-basis-data-subject = The data subject (PIPL art. 45)
legal-basis-guardian = Guardian (PIPL art. 31)
legal-basis-consent = Consent (PIPL art. 13(1))
legal-basis-legal-duty = Legal duty (PIPL art. 13(3))
legal-basis-entrusted = Entrusted processing (PIPL art. 21)
role-patient = Patient
role-guardian = Guardian
role-relative = Close relative
role-doctor = Doctor
role-institution-staff = Institution staff
role-integration = Integration
role-mediator = Mediator
role-legal-aid-lawyer = Legal-aid lawyer
role-medical-expert = Medical expert
role-insurer-adjuster = Insurance adjuster
role-regulator = Regulator
role-operator = Operator
org-kind-medical-institution = Medical institution
org-kind-internet-hospital = Internet hospital
org-kind-consultation-platform = Health-consultation platform
org-kind-insurer = Insurer
org-kind-mediation-committee = Mediation committee
org-kind-legal-aid-body = Legal-aid body
org-kind-regulator = Regulator
purpose-treatment = Treatment
purpose-dispute = Dispute handling
purpose-insurance-claim = Insurance claim
purpose-supervision = Supervision
purpose-research = Research
purpose-quality-improvement = Quality improvement
data-category-identity = Identity
data-category-contact = Contact details
data-category-consultation-record = Consultation records
data-category-prescription = Prescriptions
data-category-recording = Recordings
data-category-payment = Payments
data-category-health-profile = Health profile
action-read = Read
action-export = Export
action-list = List

## Doctor's evidence

evidence-title = Evidence of your licence
evidence-status-pending = Your practice details await the platform's verification. Please upload your practising certificate and other evidence.
evidence-status-verified = Your practice details have been verified.
evidence-status-rejected = Your practice details were not verified.
evidence-empty = No evidence submitted yet
evidence-field = Evidence files
evidence-hint = PDF, PNG or JPEG, at most 8 MiB each; stored encrypted, seen only by the verifying operator, and every view is recorded.
evidence-submit = Upload
evidence-invalid = Not accepted: choose PDF, PNG or JPEG files of at most 8 MiB each.
verify-evidence = Evidence

## Online care: the duty queue, consultations, refunds, supervision

nav-duty = Duty queue
nav-consultations = My consultations
nav-refunds = Refunds
nav-supervision = Supervision
care-severity-critical = Critical
care-severity-high = High
care-severity-medium = Medium
care-severity-low = Low
care-status-open = Open
care-status-acknowledged = Acknowledged
care-status-resolved = Resolved
care-duty-title = Duty queue
care-duty-lead = Red flags in patients' messages (conditions unsuitable for online care), most urgent first. Acknowledge each before its deadline; an alert left unacknowledged is escalated to the next person on duty. Every acknowledgement and resolution is recorded in the evidence log.
care-duty-empty = There are no open alerts.
care-duty-caption = Alerts not yet resolved (most urgent first)
care-duty-col-severity = Severity
care-duty-col-signal = Red flag
care-duty-col-org = Organisation
care-duty-col-consultation = Consultation
care-duty-col-raised = Raised (UTC)
care-duty-col-deadline = Acknowledge by (UTC)
care-duty-col-level = Escalation level
care-duty-col-assignee = Assigned to
care-duty-col-status = Status
care-duty-col-actions = Actions
care-duty-overdue = Overdue
care-duty-assignee-all = Everyone on duty
care-duty-acknowledge = Acknowledge
care-duty-resolve = Resolve
care-duty-note = Note
care-duty-note-hint = For example: called the patient and advised the emergency department. Stored encrypted.
care-duty-conflict = This alert has changed (someone may have acknowledged or resolved it already); see the current queue.
care-duty-not-found = This alert does not exist, or it is not yours to handle.
care-note-too-long = The note is too long: at most 2,000 characters.
care-consult-title = My consultations
care-consult-lead = Your online consultations with internet hospitals and consultation platforms. Once a consultation has ended you may rate the doctor and the institution, once.
care-consult-empty = You have no consultations yet.
care-consult-institution = Institution
care-consult-doctor = Doctor
care-consult-started = Started (UTC)
care-consult-ended = Ended (UTC)
care-consult-ongoing = In progress
care-consult-rated = Rated
care-consult-rate-after-end = You can rate it once it has ended.
care-consult-refund-link = Fees paid to this doctor (refund)
care-rating-doctor = Doctor's score
care-rating-institution = Institution's score
care-rating-scale = 1 to 5; 5 is best
care-rating-comment = Comment
care-rating-submit = Submit rating
care-rating-invalid = Choose a score from 1 to 5 for the doctor and for the institution; a comment is at most 1,000 characters.
care-rating-conflict = Not rated: the consultation has not ended, or it was rated already.
care-refund-title = Refunds
care-refund-lead = As the court decided in the case this follows (seed case 000), only the consultation fees you paid for consultations with the doctor you choose are refunded; fees paid to other doctors, drugs and top-ups of your balance are not. Each fee comes with its receipt in the evidence log, which anyone can verify.
care-refund-no-doctors = You have no consultations, so there are no fees to refund.
care-refund-doctor = Doctor
care-refund-show = Calculate the refund
care-refund-doctor-unknown = Choose one of the doctors you consulted.
care-refund-heading = Consultation fees to refund: { $doctor }
care-refund-total = Total:
care-refund-empty = You paid no consultation fees to this doctor.
care-refund-caption = The consultation fees refunded, with their receipts
care-refund-col-consultation = Consultation
care-refund-col-when = Paid (UTC)
care-refund-col-amount = Amount
care-refund-col-receipt = Receipt (evidence log entry)
care-refund-context-heading = For comparison
care-refund-paid-all = Paid to all doctors (top-ups excluded)
care-refund-topped-up = Topped up
care-refund-context-note = These two figures are for comparison only: the refund covers only the chosen doctor's consultation fees. Top-ups are the balance the fees were paid from and are not refunded here.
care-supervision-title = Supervision
care-supervision-lead = Quality indicators of online care per institution and per doctor: consultations, first response time, termination and referral rates, compliance findings per 100 consultations, and patients' ratings.
care-supervision-generated = Generated { $when }
care-supervision-download = Download:
care-supervision-csv = CSV
care-supervision-json = JSON
care-supervision-fhir = FHIR R5 (MeasureReport)
care-supervision-institutions = Institutions
care-supervision-doctors = Doctors
care-supervision-empty = No data yet.
care-supervision-caption = Indicators ("—" means no data yet)
care-supervision-col-institution = Institution
care-supervision-col-doctor = Doctor
care-supervision-col-consultations = Consultations
care-supervision-col-ended = Ended
care-supervision-col-response = Mean response time (s)
care-supervision-col-termination = Termination rate
care-supervision-col-referral = Referral rate
care-supervision-col-findings = Findings per 100 consultations
care-supervision-col-rating = Mean rating
care-supervision-ratings = ratings: { $count }
