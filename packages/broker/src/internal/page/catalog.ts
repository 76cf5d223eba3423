/**
 * Every string of the connect page, one catalogue per language. Text only:
 * the page escapes all of it when it renders.
 */

export type Locale = "en" | "de"

export const LOCALES: ReadonlyArray<Locale> = ["en", "de"]

// The terms' addresses are core's, kept with the terms version the consent record stores.
export { TERMS_OF_USE_URL, USAGE_POLICIES_URL } from "@subauth/core/Consent"

export interface Catalog {
  readonly lang: string
  readonly title: string
  readonly skipToContent: string
  readonly noticeTitle: string
  readonly notice: string
  readonly termsLink: string
  readonly policiesLink: string
  readonly disclaimerTitle: string
  readonly disclaimer: ReadonlyArray<string>
  readonly acceptButton: string
  readonly acceptHint: string
  readonly chooseTitle: string
  readonly chooseIntro: string
  readonly methodDevice: string
  readonly methodDeviceHint: string
  readonly methodPaste: string
  readonly methodPasteHint: string
  readonly methodCli: string
  readonly methodCliHint: string
  readonly deviceTitle: string
  readonly deviceStep1: string
  readonly deviceOpenLink: string
  readonly deviceStep2: string
  readonly copy: string
  readonly copied: string
  readonly expiresIn: string
  readonly phishingWarning: string
  readonly waiting: string
  readonly pasteTitle: string
  readonly pasteStep1: string
  readonly pasteOpenLink: string
  /** `{address}`: where the sign-in ends (the redirect address without its query). */
  readonly pasteStep2: string
  readonly pasteStep3: string
  readonly pasteLabel: string
  readonly pasteButton: string
  readonly pasteWrongAddress: string
  readonly pasteTryAgain: string
  readonly cliTitle: string
  readonly cliIntro: string
  readonly cliNote: string
  readonly connectedTitle: string
  readonly connectedText: string
  readonly backToApp: string
  readonly closeTab: string
  readonly expiredTitle: string
  readonly expiredText: string
  readonly startAgain: string
  readonly disabledTitle: string
  readonly disabledText: string
  readonly usePaste: string
  readonly deniedTitle: string
  readonly deniedText: string
  readonly differentAccountTitle: string
  readonly differentAccountText: string
  readonly failedTitle: string
  readonly failedText: string
  readonly sessionGoneTitle: string
  readonly sessionGoneText: string
  readonly linkUsedTitle: string
  readonly linkUsedText: string
  readonly continueLink: string
  readonly chooseOther: string
  readonly language: string
}

const en: Catalog = {
  lang: "en",
  title: "Sign in with ChatGPT",
  skipToContent: "Skip to content",
  noticeTitle: "Before you sign in",
  notice: "Signing in with ChatGPT lets this app use your ChatGPT subscription through an interface OpenAI built for " +
    "its own Codex clients; your use of it is subject to OpenAI's terms.",
  termsLink: "OpenAI Terms of Use",
  policiesLink: "OpenAI usage policies",
  disclaimerTitle: "Please read this once",
  disclaimer: [
    "This sign-in is not made or endorsed by OpenAI. It works the way the Codex CLI signs in, and requests go to the same backend. Whether other programs may use a ChatGPT subscription this way is a grey area of OpenAI's terms.",
    "Use your own account, for your own work; do not share or resell access. OpenAI may limit, change or end this access, or act on your account, without notice.",
    "Your sign-in is kept encrypted by this service and used only for you. Requests count against your plan's usage limits like Codex requests do."
  ],
  acceptButton: "Continue – I accept",
  acceptHint: "Continuing means you have read the notice above and accept it.",
  chooseTitle: "How do you want to sign in?",
  chooseIntro: "All three end the same way; pick the one that works for you.",
  methodDevice: "With a code",
  methodDeviceHint: "Enter a short code on OpenAI's page. Needs device code sign-in switched on in ChatGPT's security settings.",
  methodPaste: "Paste the address",
  methodPasteHint: "Sign in in this browser, then copy the address it ends on back here.",
  methodCli: "With one command on your computer",
  methodCliHint: "Runs the normal browser sign-in on your own computer and hands it to this page.",
  deviceTitle: "Enter this code at OpenAI",
  deviceStep1: "Open OpenAI's page (it opens in a new tab):",
  deviceOpenLink: "Open the code page",
  deviceStep2: "Sign in there and enter this code:",
  copy: "Copy the code",
  copied: "Copied",
  expiresIn: "The code expires in",
  phishingWarning: "Device codes are a common target of phishing: only enter it on OpenAI's own page, and never share it.",
  waiting: "Waiting for you to enter the code…",
  pasteTitle: "Sign in and paste the address",
  pasteStep1: "Open OpenAI's sign-in page (it opens in a new tab) and sign in:",
  pasteOpenLink: "Open the sign-in page",
  pasteStep2: "When you are done, that tab shows an error such as “This site can't be reached”, at an address that starts with {address}. That is expected: the page does not load.",
  pasteStep3: "Copy that whole address from the address bar and paste it here:",
  pasteLabel: "The address the sign-in ended on",
  pasteButton: "Finish signing in",
  pasteWrongAddress: "That is not the address this sign-in ended on. Sign in with the link above, then copy the whole address from that tab's address bar.",
  pasteTryAgain: "OpenAI's sign-in server did not answer. Wait a moment and paste the address again.",
  cliTitle: "Run this on your computer",
  cliIntro: "Copy the command into a terminal on a computer with a browser. It opens the sign-in, and this page continues by itself once you are signed in.",
  cliNote: "The command works once, for this sign-in only, for a few minutes. Nothing is stored on your computer.",
  connectedTitle: "You are signed in",
  connectedText: "Your ChatGPT account is connected.",
  backToApp: "Back to the app",
  closeTab: "You can close this tab.",
  expiredTitle: "The code expired",
  expiredText: "The sign-in took longer than the code lasts. Start again for a new one.",
  startAgain: "Start again",
  disabledTitle: "Device codes are switched off for this account",
  disabledText: "Switch on “Device code authorization for Codex” in ChatGPT (Settings → Security; in a workspace, an admin may have to allow it), then start again. Or sign in by pasting the address instead.",
  usePaste: "Sign in by pasting the address",
  deniedTitle: "The sign-in was declined",
  deniedText: "You or OpenAI declined the sign-in. Start again if that was a mistake.",
  differentAccountTitle: "That is another ChatGPT account",
  differentAccountText: "You signed in with a different ChatGPT account than the one connected before. Sign in with that account, or ask the app to disconnect you first.",
  failedTitle: "The sign-in did not work",
  failedText: "Something went wrong while signing you in. Start again; if it keeps failing, go back to the app.",
  sessionGoneTitle: "This sign-in has ended",
  sessionGoneText: "Go back to the app and start the sign-in again.",
  linkUsedTitle: "This link has been used",
  linkUsedText: "A sign-in link works once, for a few minutes. Go back to the app and start again.",
  continueLink: "Continue",
  chooseOther: "Use another way",
  language: "Language"
}

const de: Catalog = {
  lang: "de",
  title: "Mit ChatGPT anmelden",
  skipToContent: "Zum Inhalt springen",
  noticeTitle: "Bevor Sie sich anmelden",
  notice: "Mit der Anmeldung bei ChatGPT nutzt diese App Ihr ChatGPT-Abonnement über eine Schnittstelle, die OpenAI " +
    "für seine eigenen Codex-Clients gebaut hat; für die Nutzung gelten die Bedingungen von OpenAI.",
  termsLink: "Nutzungsbedingungen von OpenAI",
  policiesLink: "Nutzungsrichtlinien von OpenAI",
  disclaimerTitle: "Bitte einmal lesen",
  disclaimer: [
    "Diese Anmeldung stammt nicht von OpenAI und wird von OpenAI nicht unterstützt. Sie funktioniert wie die Anmeldung der Codex-CLI, und die Anfragen gehen an dasselbe Backend. Ob andere Programme ein ChatGPT-Abonnement so nutzen dürfen, ist in den Bedingungen von OpenAI nicht eindeutig geregelt.",
    "Nutzen Sie Ihr eigenes Konto für Ihre eigene Arbeit; geben Sie den Zugang nicht weiter und verkaufen Sie ihn nicht. OpenAI kann diesen Zugang ohne Ankündigung einschränken, ändern oder beenden oder gegen Ihr Konto vorgehen.",
    "Ihre Anmeldung wird von diesem Dienst verschlüsselt aufbewahrt und nur für Sie verwendet. Anfragen zählen wie Codex-Anfragen gegen die Nutzungsgrenzen Ihres Tarifs."
  ],
  acceptButton: "Weiter – ich stimme zu",
  acceptHint: "Mit „Weiter“ bestätigen Sie, dass Sie den Hinweis oben gelesen haben und ihm zustimmen.",
  chooseTitle: "Wie möchten Sie sich anmelden?",
  chooseIntro: "Alle drei Wege führen zum selben Ziel; wählen Sie den, der für Sie passt.",
  methodDevice: "Mit einem Code",
  methodDeviceHint: "Geben Sie einen kurzen Code auf der Seite von OpenAI ein. Dafür muss die Geräte-Code-Anmeldung in den Sicherheitseinstellungen von ChatGPT eingeschaltet sein.",
  methodPaste: "Adresse einfügen",
  methodPasteHint: "Melden Sie sich in diesem Browser an und kopieren Sie danach die Adresse, auf der er stehen bleibt, hierher.",
  methodCli: "Mit einem Befehl auf Ihrem Computer",
  methodCliHint: "Führt die normale Browser-Anmeldung auf Ihrem eigenen Computer aus und übergibt sie an diese Seite.",
  deviceTitle: "Geben Sie diesen Code bei OpenAI ein",
  deviceStep1: "Öffnen Sie die Seite von OpenAI (sie öffnet sich in einem neuen Tab):",
  deviceOpenLink: "Code-Seite öffnen",
  deviceStep2: "Melden Sie sich dort an und geben Sie diesen Code ein:",
  copy: "Code kopieren",
  copied: "Kopiert",
  expiresIn: "Der Code läuft ab in",
  phishingWarning: "Geräte-Codes sind ein beliebtes Ziel von Phishing: Geben Sie ihn nur auf der Seite von OpenAI ein und teilen Sie ihn mit niemandem.",
  waiting: "Warten auf Ihre Eingabe des Codes …",
  pasteTitle: "Anmelden und Adresse einfügen",
  pasteStep1: "Öffnen Sie die Anmeldeseite von OpenAI (sie öffnet sich in einem neuen Tab) und melden Sie sich an:",
  pasteOpenLink: "Anmeldeseite öffnen",
  pasteStep2: "Danach zeigt dieser Tab einen Fehler wie „Die Website ist nicht erreichbar“, unter einer Adresse, die mit {address} beginnt. Das ist so gewollt: Die Seite lädt nicht.",
  pasteStep3: "Kopieren Sie diese ganze Adresse aus der Adressleiste und fügen Sie sie hier ein:",
  pasteLabel: "Die Adresse, auf der die Anmeldung endete",
  pasteButton: "Anmeldung abschließen",
  pasteWrongAddress: "Das ist nicht die Adresse, auf der diese Anmeldung endete. Melden Sie sich über den Link oben an und kopieren Sie dann die ganze Adresse aus der Adressleiste jenes Tabs.",
  pasteTryAgain: "Der Anmeldeserver von OpenAI hat nicht geantwortet. Warten Sie einen Moment und fügen Sie die Adresse erneut ein.",
  cliTitle: "Führen Sie dies auf Ihrem Computer aus",
  cliIntro: "Kopieren Sie den Befehl in ein Terminal auf einem Computer mit Browser. Er öffnet die Anmeldung, und diese Seite geht von selbst weiter, sobald Sie angemeldet sind.",
  cliNote: "Der Befehl funktioniert einmal, nur für diese Anmeldung, für einige Minuten. Auf Ihrem Computer wird nichts gespeichert.",
  connectedTitle: "Sie sind angemeldet",
  connectedText: "Ihr ChatGPT-Konto ist verbunden.",
  backToApp: "Zurück zur App",
  closeTab: "Sie können diesen Tab schließen.",
  expiredTitle: "Der Code ist abgelaufen",
  expiredText: "Die Anmeldung hat länger gedauert, als der Code gilt. Beginnen Sie neu, um einen neuen zu erhalten.",
  startAgain: "Neu beginnen",
  disabledTitle: "Geräte-Codes sind für dieses Konto ausgeschaltet",
  disabledText: "Schalten Sie in ChatGPT „Geräte-Code-Autorisierung für Codex“ ein (Einstellungen → Sicherheit; in einem Workspace muss es eventuell ein Admin erlauben) und beginnen Sie neu. Oder melden Sie sich stattdessen durch Einfügen der Adresse an.",
  usePaste: "Durch Einfügen der Adresse anmelden",
  deniedTitle: "Die Anmeldung wurde abgelehnt",
  deniedText: "Sie oder OpenAI haben die Anmeldung abgelehnt. Beginnen Sie neu, falls das ein Versehen war.",
  differentAccountTitle: "Das ist ein anderes ChatGPT-Konto",
  differentAccountText: "Sie haben sich mit einem anderen ChatGPT-Konto angemeldet als dem, das zuvor verbunden war. Melden Sie sich mit jenem Konto an oder bitten Sie die App, Sie zuerst abzumelden.",
  failedTitle: "Die Anmeldung hat nicht geklappt",
  failedText: "Beim Anmelden ist etwas schiefgegangen. Beginnen Sie neu; wenn es weiter scheitert, kehren Sie zur App zurück.",
  sessionGoneTitle: "Diese Anmeldung ist beendet",
  sessionGoneText: "Kehren Sie zur App zurück und beginnen Sie die Anmeldung neu.",
  linkUsedTitle: "Dieser Link wurde schon verwendet",
  linkUsedText: "Ein Anmeldelink funktioniert einmal, für einige Minuten. Kehren Sie zur App zurück und beginnen Sie neu.",
  continueLink: "Weiter",
  chooseOther: "Einen anderen Weg wählen",
  language: "Sprache"
}

export const catalogs: Record<Locale, Catalog> = { en, de }

/** The locale asked for (`?locale=`), else the first of `Accept-Language` we have, else English. */
export const localeOf = (asked: string | undefined | null, acceptLanguage: string | undefined): Locale => {
  if (asked === "en" || asked === "de") return asked
  for (const part of (acceptLanguage ?? "").split(",")) {
    const tag = part.split(";")[0]!.trim().toLowerCase().slice(0, 2)
    if (tag === "en" || tag === "de") return tag
  }
  return "en"
}
