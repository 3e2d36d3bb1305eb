//! The portal's pages and mail, built into the binary (the portal's image needs no template
//! files). `.html` is escaped by tera; the plain-text mail is not.

use tera::Tera;

macro_rules! embedded {
    ($($name:literal),+ $(,)?) => {
        &[$(($name, include_str!(concat!("../../templates/portal/", $name)))),+]
    };
}

const TEMPLATES: &[(&str, &str)] = embedded![
    "base.html",
    "home.html",
    "signin.html",
    "register.html",
    "resend.html",
    "confirm.html",
    "notice.html",
    "error.html",
    "password.html",
    "forgot.html",
    "account.html",
    "email_confirm.html",
    "collectives.html",
    "invitation.html",
    "admin.html",
    "mail/message.txt",
    "mail/message.html",
];

pub fn load() -> Result<Tera, tera::Error> {
    let mut tera = Tera::default();
    tera.add_raw_templates(TEMPLATES.iter().copied())?;
    Ok(tera)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_template_parses() {
        super::load().unwrap();
    }
}
