import ArgumentParser
import Facteur
import Foundation
import Mail

/// The benchmark's subscribers and its 30 KB campaign template, made the same way every run.
struct BenchSubscriber {
    var id: Int64
    var email: String
    var name: String
    var locale: String
    var timezone: String?
    var score: Double
    var city: String
    var plan: String
    var points: Int64
    var company: String?
    var companyDomain: String?

    static let firstNames = [
        "Élodie", "Camille", "Léa", "Chloé", "Inès", "Manon", "Zoé", "Jeanne", "Louise", "Agathe", "Maëlle", "Noémie",
        "Hélène", "Béatrice", "Amélie", "Lucas", "Théo", "Hugo", "Mathéo", "Raphaël", "Gabriel", "Jérôme", "François",
        "Benoît", "Loïc", "Anaïs", "Clément", "Étienne", "Sébastien", "Aurélien", "Céline", "Margaux",
    ]
    static let lastNames = [
        "Lefèvre", "Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy", "Moreau",
        "Simon", "Laurent", "Lefebvre", "Michel", "Garcia", "David", "Bertrand", "Roux", "Vincent", "Fournier", "Morel",
        "Girard", "André", "Mercier", "Dupont", "Lambert", "Bonnet", "François", "Martinez", "Legrand", "Garnier",
        "Faure", "Rousseau", "Blanc", "Guérin", "Muller", "Henry", "Roussel", "Nicolas", "Perrin", "Morin", "Mathieu",
        "Clément", "Gauthier", "Dumont", "Lopez", "Fontaine", "Chevalier", "Robin",
    ]
    static let cities = ["Paris", "Lyon", "Marseille", "Toulouse", "Nantes", "Bordeaux", "Lille", "Rennes", "Strasbourg", "Montpellier"]
    static let domains = ["gmail.com", "orange.fr", "free.fr", "laposte.net", "outlook.fr", "yahoo.fr", "sfr.fr", "proton.me"]
    static let plans = ["découverte", "essentiel", "premium"]
    static let companies = ["Atelier Dumas", "Boulangerie Roux", "Cabinet Mercier & Associés", "Éditions du Lac", "Garage Leroy"]

    static func make(_ index: Int) -> BenchSubscriber {
        let first = firstNames[index % firstNames.count]
        let last = lastNames[(index / firstNames.count) % lastNames.count]
        let local = "\(ascii(first)).\(ascii(last)).\(index)"
        let company = index % 3 == 0 ? companies[index % companies.count] : nil
        return BenchSubscriber(
            id: Int64(index + 1), email: "\(local)@\(domains[index % domains.count])", name: "\(first) \(last)",
            locale: index % 7 == 0 ? "en" : "fr", timezone: index % 2 == 0 ? "Europe/Paris" : nil,
            score: Double(index % 100) / 10, city: cities[index % cities.count], plan: plans[index % plans.count],
            points: Int64((index * 37) % 5000), company: company,
            companyDomain: company.map { _ in "entreprise\(index % 50).fr" })
    }

    static func ascii(_ text: String) -> String {
        text.folding(options: [.diacriticInsensitive, .caseInsensitive], locale: nil).lowercased()
    }
}

// MARK: - The template

/// A realistic ~30 KB French newsletter: inline-styled tables, 12 product cards, an article, shop
/// locations and social links — 20 distinct `https://` links, several used twice (image + title).
enum BenchContent {
    static let subject = "{{first_name}}, offre d'été ☀️ : -30 % sur tout"
    static let site = "https://www.maison-lumiere.example.fr"
    static let utm = "utm_source=newsletter&amp;utm_medium=email&amp;utm_campaign=soldes-ete-2025"
    static let cdn = "https://cdn.maison-lumiere.example.fr/img/2025/ete"

    static let products: [(slug: String, name: String, price: String, was: String, text: String)] = [
        (
            "lampe-corail", "Lampe à poser Corail", "62,30 €", "89,00 €",
            "Céramique émaillée à la main dans notre atelier de Limoges, abat-jour en lin lavé. Une lumière douce et chaude pour vos soirées d'été sur la terrasse ou au salon."
        ),
        (
            "suspension-rotin", "Suspension Rotin Naturel", "104,30 €", "149,00 €",
            "Tressée par des artisans, elle projette de jolies ombres graphiques au plafond. Diamètre 45 cm, câble textile écru de 1,5 m, ampoule E27 non fournie."
        ),
        (
            "guirlande-guinguette", "Guirlande Guinguette 10 m", "34,30 €", "49,00 €",
            "Dix mètres de lumière pour vos dîners entre amis : 15 ampoules LED à filament, étanche IP65, raccordable jusqu'à trois guirlandes. Idéale pour les pergolas."
        ),
        (
            "lanterne-solaire", "Lanterne solaire Méditerranée", "27,93 €", "39,90 €",
            "Aucune prise, aucun câble : le panneau intégré se recharge la journée et s'allume seul à la tombée de la nuit. Autonomie de huit heures, verre recyclé."
        ),
        (
            "applique-laiton", "Applique murale Laiton brossé", "83,30 €", "119,00 €",
            "Un bras articulé orientable à 180° et une finition laiton brossé qui se patine joliment avec le temps. Parfaite au-dessus d'une tête de lit ou d'un fauteuil."
        ),
        (
            "lampadaire-arc", "Lampadaire Arc Scandinave", "174,30 €", "249,00 €",
            "Pied en chêne massif certifié FSC, arc en acier thermolaqué noir mat, variateur au pied. Il éclaire la table basse sans encombrer le salon."
        ),
        (
            "bougie-figuier", "Bougie parfumée Figuier", "20,30 €", "29,00 €",
            "Cire végétale de colza, mèche en coton, 45 heures de combustion. Notes de feuille de figuier, de lait d'amande et de bois de cèdre, coulée en Provence."
        ),
        (
            "lampe-baladeuse", "Lampe baladeuse rechargeable", "48,30 €", "69,00 €",
            "Rechargeable en USB-C, trois intensités, poignée en cuir végétal. Elle vous suit du jardin à la chambre, et jusque sous la tente cet été."
        ),
        (
            "spot-jardin", "Lot de 4 spots de jardin", "55,93 €", "79,90 €",
            "Aluminium anodisé, piquet inclus, lumière blanc chaud 2700 K. Mettez en valeur un olivier, une allée ou la façade de la maison en quelques minutes."
        ),
        (
            "abat-jour-lin", "Abat-jour Lin lavé terracotta", "31,50 €", "45,00 €",
            "Lin lavé teint dans la masse, couleur terracotta, armature en métal doré. Compatible avec la plupart de nos pieds de lampe, quatre tailles disponibles."
        ),
        (
            "veilleuse-lune", "Veilleuse Lune en verre soufflé", "24,43 €", "34,90 €",
            "Soufflée à la bouche, chaque pièce est unique. Minuterie de 30 minutes, lumière ambrée qui rassure les plus petits sans gêner leur sommeil."
        ),
        (
            "plafonnier-opaline", "Plafonnier Opaline 1930", "97,30 €", "139,00 €",
            "Réédition d'un modèle Art déco : globe en opaline blanche, monture en laiton patiné. Diffuse une lumière homogène dans l'entrée ou le couloir."
        ),
    ]

    static let paragraphs = [
        "Cet été, nous avons voulu faire simple : une seule remise, sur tout le catalogue, sans code ni minimum d'achat. Les prix affichés sur le site tiennent déjà compte de la réduction, et la livraison reste offerte dès 49 € en France métropolitaine, en Belgique et au Luxembourg.",
        "Nos ateliers de Limoges et de Nantes tournent à plein régime depuis le printemps pour préparer ces soldes. Chaque lampe est contrôlée à la main avant de partir : nous vérifions le câblage, la stabilité du pied et la finition de l'abat-jour, puis nous l'emballons dans du carton recyclé, sans plastique.",
        "Vous hésitez entre deux modèles ? Nos conseillers répondent par téléphone du lundi au samedi, de 9 h à 19 h, et par messagerie sur le site. Ils peuvent aussi vous envoyer des photos prises en situation, avec la lumière du soir, pour vous aider à choisir la bonne teinte et la bonne hauteur.",
        "Le retour est gratuit pendant 60 jours : si la lampe ne trouve pas sa place chez vous, déposez-la dans l'un des 6 000 points relais partenaires et nous vous remboursons sous cinq jours ouvrés. Les articles soldés bénéficient exactement des mêmes garanties que le reste de la collection.",
        "Pour une terrasse réussie, pensez en trois couches : une lumière d'ambiance en hauteur (guirlande ou suspension), une lumière d'accent au sol pour les plantes, et une lumière de table, portable, pour le dîner. Évitez les blancs froids au-dessus de 3000 K, qui écrasent les couleurs et attirent davantage les insectes.",
        "Nos ampoules LED à filament consomment jusqu'à 85 % d'énergie en moins qu'une ampoule à incandescence pour un rendu quasiment identique. Toutes sont garanties trois ans et compatibles avec nos variateurs ; les modèles solaires, eux, n'ont besoin que de quelques heures de soleil pour tenir toute la soirée.",
    ]

    static let stores: [(city: String, address: String, slug: String)] = [
        ("Paris 11e", "42, rue de la Roquette", "paris-roquette"),
        ("Lyon", "7, quai Saint-Antoine", "lyon-saint-antoine"),
        ("Nantes", "18, rue Kervégan", "nantes-kervegan"),
    ]

    static func link(_ path: String) -> String { "\(site)/\(path)?\(utm)" }

    static func html() -> String {
        var out = ""
        out.reserveCapacity(34_000)
        out += """
            <style>
            @media only screen and (max-width: 620px) {
              .produit { width: 100% !important; display: block !important; }
              .colonne { width: 100% !important; display: block !important; padding: 0 0 16px 0 !important; }
              .titre { font-size: 26px !important; line-height: 32px !important; }
            }
            </style>
            <table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style="border-collapse:collapse;">
            <tr><td style="padding:0 0 12px 0;font-size:12px;color:#71717a;text-align:center;">
            Vous ne voyez pas bien ce message ? <a href="{{view_in_browser_url}}" style="color:#71717a;text-decoration:underline;">Ouvrez-le dans votre navigateur</a>.
            </td></tr>
            <tr><td align="center" style="padding:8px 0 24px 0;">
            <a href="\(link(""))" style="text-decoration:none;"><img src="\(cdn)/logo-maison-lumiere@2x.png" width="180" height="48" alt="Maison Lumière" style="display:block;border:0;outline:none;width:180px;height:48px;"></a>
            </td></tr>
            <tr><td style="padding:0;">
            <a href="\(link("soldes-ete"))" style="text-decoration:none;"><img src="\(cdn)/bandeau-soldes-ete-1200x600.jpg" width="536" alt="Soldes d'été : -30 % sur tout le site" style="display:block;border:0;width:100%;max-width:536px;height:auto;border-radius:6px;"></a>
            </td></tr>
            <tr><td class="titre" style="padding:28px 0 8px 0;font-family:Georgia,'Times New Roman',serif;font-size:32px;line-height:38px;color:#7c2d12;text-align:center;">
            Bonjour {{first_name}}{{^first_name}}chère cliente, cher client{{/first_name}}, l'été s'allume !
            </td></tr>
            <tr><td style="padding:0 0 20px 0;font-size:16px;line-height:26px;color:#3f3f46;text-align:center;">
            Jusqu'au 31 août, profitez de <strong>-30 % sur tout le catalogue</strong> : lampes, suspensions, guirlandes, bougies et luminaires d'extérieur. {{#company}}Offre également valable pour les commandes professionnelles de {{company.name}}.{{/company}}
            </td></tr>
            <tr><td align="center" style="padding:0 0 32px 0;">
            <table role="presentation" cellpadding="0" cellspacing="0" border="0"><tr><td style="background:#c2410c;border-radius:999px;">
            <a href="\(link("soldes-ete"))" style="display:inline-block;padding:14px 32px;font-size:16px;font-weight:bold;color:#ffffff;text-decoration:none;border-radius:999px;">Je découvre les soldes</a>
            </td></tr></table>
            </td></tr>
            <tr><td style="padding:0 0 24px 0;font-size:14px;line-height:22px;color:#52525b;background:#fff7ed;border-radius:6px;">
            <table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0"><tr><td style="padding:16px 20px;">
            Votre compte fidélité <strong>{{plan}}</strong> affiche <strong>{{points}} points</strong> : ils se cumulent avec la remise d'été sur votre prochaine commande à {{attributes.city}} ou en ligne.
            </td></tr></table>
            </td></tr>

            """
        // Product cards, two per row.
        for pair in stride(from: 0, to: products.count, by: 2) {
            out += """
                <tr><td style="padding:0 0 24px 0;">
                <table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0"><tr>

                """
            for product in products[pair..<min(pair + 2, products.count)] {
                let url = link("produits/\(product.slug)")
                out += """
                    <td class="produit" width="50%" valign="top" style="padding:0 8px;">
                    <table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style="border:1px solid #e4e4e7;border-radius:6px;">
                    <tr><td style="padding:0;"><a href="\(url)" style="text-decoration:none;"><img src="\(cdn)/produits/\(product.slug)-520x520.jpg" width="252" alt="\(product.name)" style="display:block;border:0;width:100%;height:auto;border-radius:6px 6px 0 0;"></a></td></tr>
                    <tr><td style="padding:14px 16px 4px 16px;font-family:Georgia,'Times New Roman',serif;font-size:18px;line-height:24px;color:#18181b;">
                    <a href="\(url)" style="color:#18181b;text-decoration:none;">\(product.name)</a>
                    </td></tr>
                    <tr><td style="padding:0 16px 8px 16px;font-size:15px;line-height:22px;">
                    <span style="color:#c2410c;font-weight:bold;">\(product.price)</span> <span style="color:#a1a1aa;text-decoration:line-through;font-size:13px;">\(product.was)</span>
                    </td></tr>
                    <tr><td style="padding:0 16px 16px 16px;font-size:13px;line-height:20px;color:#52525b;">\(product.text)</td></tr>
                    </table>
                    </td>

                    """
            }
            out += "</tr></table>\n</td></tr>\n"
        }
        // The article, then shops and help.
        out += """
            <tr><td style="padding:8px 0 16px 0;font-family:Georgia,'Times New Roman',serif;font-size:24px;line-height:30px;color:#7c2d12;">Le carnet : bien éclairer sa terrasse</td></tr>

            """
        var paragraph = 0
        func addParagraph() {
            out +=
                "<tr><td style=\"padding:0 0 16px 0;font-size:15px;line-height:24px;color:#3f3f46;\">"
                + paragraphs[paragraph % paragraphs.count] + "</td></tr>\n"
            paragraph += 1
        }
        for _ in 0..<3 { addParagraph() }
        out += """
            <tr><td style="padding:0 0 28px 0;font-size:15px;"><a href="\(link("carnet/eclairer-sa-terrasse"))" style="color:#c2410c;font-weight:bold;">Lire l'article complet →</a></td></tr>
            <tr><td style="padding:0 0 24px 0;">
            <table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0"><tr>

            """
        for store in stores {
            out += """
                <td class="colonne" width="33%" valign="top" style="padding:0 6px;font-size:13px;line-height:20px;color:#52525b;">
                <strong style="color:#18181b;">\(store.city)</strong><br>\(store.address)<br>Ouvert du mardi au samedi, 10 h – 19 h<br>
                <a href="\(link("magasins/\(store.slug)"))" style="color:#c2410c;">Itinéraire et horaires</a>
                </td>

                """
        }
        out += """
            </tr></table>
            </td></tr>
            <tr><td style="padding:0 0 24px 0;font-size:13px;line-height:20px;color:#71717a;text-align:center;">
            Livraison offerte dès 49 € · Retours gratuits sous 60 jours · <a href="https://aide.maison-lumiere.example.fr/livraison-et-retours?\(utm)" style="color:#71717a;">Aide et contact</a>
            </td></tr>
            <tr><td align="center" style="padding:0 0 24px 0;">
            <a href="https://www.instagram.com/maisonlumiere.paris/" style="text-decoration:none;"><img src="\(cdn)/icones/instagram.png" width="28" height="28" alt="Instagram" style="border:0;"></a>
            </td></tr>

            """
        // Editorial tips until the HTML reaches 30 KB, then the closing notes.
        out += """
            <tr><td style="padding:8px 0 16px 0;font-family:Georgia,'Times New Roman',serif;font-size:20px;line-height:26px;color:#7c2d12;">Nos conseils de l'été</td></tr>

            """
        let closing = """
            <tr><td style="padding:8px 0 0 0;font-size:12px;line-height:18px;color:#a1a1aa;">
            Cet e-mail a été envoyé à {{email}}. Offre valable du 1er juillet au 31 août 2025 dans la limite des stocks disponibles, non cumulable avec d'autres codes promotionnels. Prix indiqués TTC. Maison Lumière SAS, 42 rue de la Roquette, 75011 Paris — RCS Paris 812 345 678.
            </td></tr>
            </table>

            """
        while out.utf8.count + closing.utf8.count < 30_000 { addParagraph() }
        out += closing
        return out
    }
}

// MARK: - Helpers

extension Duration {
    var seconds: Double {
        let parts = components
        return Double(parts.seconds) + Double(parts.attoseconds) * 1e-18
    }
}

/// Keeps a computed value alive so the optimizer cannot drop the work behind it.
@inline(never) func blackHole(_ value: Int) {
    if value == Int.min { print("") }
}

func grouped(_ value: Int) -> String {
    let digits = String(value.magnitude)
    var out = ""
    for (index, digit) in digits.enumerated() {
        if index > 0, (digits.count - index) % 3 == 0 { out += "," }
        out.append(digit)
    }
    return value < 0 ? "-" + out : out
}

func fixed(_ value: Double, _ decimals: Int) -> String { String(format: "%.\(decimals)f", value) }
func pad(_ text: String, _ width: Int) -> String {
    text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
}
func lpad(_ text: String, _ width: Int) -> String {
    text.count >= width ? text : String(repeating: " ", count: width - text.count) + text
}
