//! Roles of accounts and kinds of organisations.
//!
//! A role says what an account is on the platform; what it may see is decided by [`crate::policy::decide`]
//! from the role, the account's relations and the data subject's consents, never by the role alone.

code_enum! {
    /// The role of an account (GLOSSARY: patient side, provider side, insurer, regulator, …).
    pub enum Role [12] (unknown: UnknownRole) {
        /// 患者: the person the medical data is about.
        Patient = "patient" => "role-patient",
        /// 监护人: guardian of a patient, e.g. a parent of a child under 14 (PIPL-31).
        Guardian = "guardian" => "role-guardian",
        /// 近亲属: close relative, e.g. of a deceased patient (PIPL-49).
        Relative = "relative" => "role-relative",
        /// 医师: a doctor; sees patients' data only once verified (IDS-13, IDM-25).
        Doctor = "doctor" => "role-doctor",
        /// 医疗机构工作人员: staff of a medical institution other than doctors.
        InstitutionStaff = "institution_staff" => "role-institution-staff",
        /// A partner system pushing events through the API.
        Integration = "integration" => "role-integration",
        /// 调解员: mediator of a people's mediation committee (MDR-22, PMA).
        Mediator = "mediator" => "role-mediator",
        /// 法律援助律师: legal-aid lawyer.
        LegalAidLawyer = "legal_aid_lawyer" => "role-legal-aid-lawyer",
        /// 医学专家: expert of the appraisal pool (MDR-33–36).
        MedicalExpert = "medical_expert" => "role-medical-expert",
        /// 保险理赔员: insurer's claims adjuster.
        InsurerAdjuster = "insurer_adjuster" => "role-insurer-adjuster",
        /// 监管: a regulator's officer (IDM-24).
        Regulator = "regulator" => "role-regulator",
        /// 运营: the platform's own operator; never sees health data (see `policy`).
        Operator = "operator" => "role-operator",
    }
}

impl Role {
    /// Staff roles must sign in with a second factor (TOTP, [`crate::totp`]): doctor, institution staff,
    /// mediator, legal-aid lawyer, medical expert, insurer adjuster, regulator and operator.
    pub fn is_staff(self) -> bool {
        matches!(
            self,
            Role::Doctor
                | Role::InstitutionStaff
                | Role::Mediator
                | Role::LegalAidLawyer
                | Role::MedicalExpert
                | Role::InsurerAdjuster
                | Role::Regulator
                | Role::Operator
        )
    }

    /// Whether someone may register an account with this role themselves: patient, guardian, relative and
    /// doctor (a doctor's account is usable for patients' data only after verification, IDM-25). Every other
    /// role is created by an operator.
    pub fn self_registrable(self) -> bool {
        matches!(
            self,
            Role::Patient | Role::Guardian | Role::Relative | Role::Doctor
        )
    }
}

code_enum! {
    /// The kind of an organisation (GLOSSARY).
    pub enum OrgKind [7] (unknown: UnknownOrgKind) {
        /// 医疗机构: a licensed medical institution.
        MedicalInstitution = "medical_institution" => "org-kind-medical-institution",
        /// 互联网医院: an internet hospital (IHM), a medical institution.
        InternetHospital = "internet_hospital" => "org-kind-internet-hospital",
        /// 健康咨询平台: a health-consultation platform, **not** a medical institution (HCP-000, seed 000).
        ConsultationPlatform = "consultation_platform" => "org-kind-consultation-platform",
        /// 保险公司: an insurer.
        Insurer = "insurer" => "org-kind-insurer",
        /// 医调委: a medical dispute mediation committee.
        MediationCommittee = "mediation_committee" => "org-kind-mediation-committee",
        /// 法律援助机构: a legal-aid body.
        LegalAidBody = "legal_aid_body" => "org-kind-legal-aid-body",
        /// 监管部门: a regulator.
        Regulator = "regulator" => "org-kind-regulator",
    }
}

impl OrgKind {
    /// Only medical institutions and internet hospitals may diagnose and prescribe; a consultation platform
    /// may give health advice only (HCP-000).
    pub fn is_medical_institution(self) -> bool {
        matches!(self, OrgKind::MedicalInstitution | OrgKind::InternetHospital)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_the_documented_ones() {
        let codes: Vec<_> = Role::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(
            codes,
            [
                "patient",
                "guardian",
                "relative",
                "doctor",
                "institution_staff",
                "integration",
                "mediator",
                "legal_aid_lawyer",
                "medical_expert",
                "insurer_adjuster",
                "regulator",
                "operator"
            ]
        );
        let kinds: Vec<_> = OrgKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(
            kinds,
            [
                "medical_institution",
                "internet_hospital",
                "consultation_platform",
                "insurer",
                "mediation_committee",
                "legal_aid_body",
                "regulator"
            ]
        );
    }

    #[test]
    fn staff_and_self_registration() {
        let staff: Vec<_> = Role::ALL.into_iter().filter(|r| r.is_staff()).collect();
        assert_eq!(
            staff,
            [
                Role::Doctor,
                Role::InstitutionStaff,
                Role::Mediator,
                Role::LegalAidLawyer,
                Role::MedicalExpert,
                Role::InsurerAdjuster,
                Role::Regulator,
                Role::Operator
            ]
        );
        let open: Vec<_> = Role::ALL.into_iter().filter(|r| r.self_registrable()).collect();
        assert_eq!(
            open,
            [Role::Patient, Role::Guardian, Role::Relative, Role::Doctor]
        );
        // The doctor is the only role that is both: self-registered, then verified, then TOTP.
        assert!(
            Role::ALL
                .into_iter()
                .filter(|r| r.is_staff() && r.self_registrable())
                .eq([Role::Doctor])
        );
    }

    #[test]
    fn only_hospitals_are_medical_institutions() {
        let medical: Vec<_> = OrgKind::ALL
            .into_iter()
            .filter(|k| k.is_medical_institution())
            .collect();
        assert_eq!(medical, [OrgKind::MedicalInstitution, OrgKind::InternetHospital]);
        assert!(!OrgKind::ConsultationPlatform.is_medical_institution());
    }
}
