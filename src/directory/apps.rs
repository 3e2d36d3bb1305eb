//! App accounts: one bind account per app under `ou=system` (`applicationProcess` +
//! `simpleSecurityObject`), with which the app reads the directory.

use super::client::{check_password, Directory};
use super::error::{rc, DirectoryError};
use super::names;

/// A password hash that no password matches.
const NO_PASSWORD: &str = "{CRYPT}!";

impl Directory {
    /// Make sure app `app_id` has an account whose password is `password`; returns its DN.
    /// Running it again with the same password changes nothing (the password is checked with
    /// a bind first).
    pub async fn ensure_app_account(
        &self,
        app_id: &str,
        password: &str,
    ) -> Result<String, DirectoryError> {
        names::app_id(app_id)?;
        names::password(password)?;
        let dn = self.tree.app_account(app_id);
        let action = format!("create the account of app `{app_id}`");
        let cn = format!("app-{app_id}");
        // `simpleSecurityObject` requires a userPassword when the entry is added. The real
        // password is only ever sent with Password Modify (so slapd hashes it); the entry is
        // created with `{CRYPT}!`, a hash nothing matches (as the image does for the
        // supervisor), and the password is set right after. If we are interrupted in
        // between, the next run finds the bind refused and sets it.
        let created = match self
            .add(
                &dn,
                vec![
                    (
                        "objectClass",
                        vec!["applicationProcess", "simpleSecurityObject"],
                    ),
                    ("cn", vec![cn.as_str()]),
                    ("userPassword", vec![NO_PASSWORD]),
                ],
            )
            .await
        {
            Ok(()) => true,
            Err(f) if f.code() == Some(rc::ENTRY_ALREADY_EXISTS) => false,
            Err(f) => return Err(f.into_error(action)),
        };
        if !created && check_password(&self.url, &dn, password).await? {
            return Ok(dn);
        }
        self.password_modify(&dn, password)
            .await
            .map_err(|f| f.into_error(format!("set the password of app `{app_id}`")))?;
        Ok(dn)
    }

    pub async fn remove_app_account(&self, app_id: &str) -> Result<(), DirectoryError> {
        names::app_id(app_id)?;
        match self.delete(&self.tree.app_account(app_id)).await {
            Ok(()) => Ok(()),
            Err(f) if f.code() == Some(rc::NO_SUCH_OBJECT) => Err(DirectoryError::NotFound {
                what: format!("the account of app `{app_id}`"),
                hint: "nothing was changed".into(),
            }),
            Err(f) => Err(f.into_error(format!("remove the account of app `{app_id}`"))),
        }
    }
}
