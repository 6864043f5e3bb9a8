//! The simulator's phrase bank: departments, their conditions and drugs, and Simplified Chinese sentences for
//! patients (or, in paediatrics, their parents) and doctors.
//!
//! Sentences may hold placeholders filled per session: `{dx}` the condition, `{drug}` its first drug,
//! `{inst}` the institution of the prior record, `{dur}` a duration, `{ref}` the referral destination. A
//! sentence may start with `CODES|`, a comma-separated list of ICD-10 prefixes: it is then only used for
//! conditions whose code starts with one of them ([`for_condition`]).
//! Only the red-flag sentences contain a red-flag term ([`Department::terms`]); a test checks that no other
//! generated text does.

/// A drug with its class (the contract's `drug_class`) and usual dose.
pub(crate) struct Drug {
    pub(crate) name: &'static str,
    pub(crate) class: &'static str,
    pub(crate) dose: &'static str,
}

const fn d(name: &'static str, class: &'static str, dose: &'static str) -> Drug {
    Drug { name, class, dose }
}

/// A condition a consultation is about: its Chinese name, ICD-10 code and the drugs prescribed for it (the
/// first one is what the patient already takes on a follow-up). No controlled drugs here.
pub(crate) struct Condition {
    pub(crate) name: &'static str,
    pub(crate) icd10: &'static str,
    pub(crate) drugs: &'static [Drug],
}

const fn c(name: &'static str, icd10: &'static str, drugs: &'static [Drug]) -> Condition {
    Condition { name, icd10, drugs }
}

/// Everything the simulator knows about one department.
pub(crate) struct Department {
    /// The contract's `department` code.
    pub(crate) code: &'static str,
    /// Whether its patients are children (the parent writes the patient's messages).
    pub(crate) children: bool,
    pub(crate) conditions: &'static [Condition],
    /// Institutions where the offline diagnosis was made.
    pub(crate) institutions: &'static [&'static str],
    /// Where patients are referred to.
    pub(crate) referrals: &'static [&'static str],
    /// Department-specific patient sentences.
    pub(crate) patient: &'static [&'static str],
    /// Department-specific doctor sentences.
    pub(crate) doctor: &'static [&'static str],
    /// Patient sentences that each contain one of `terms`.
    pub(crate) red_flags: &'static [&'static str],
    /// The red-flag terms of the department.
    pub(crate) terms: &'static [&'static str],
    /// The doctor's answer to a red flag.
    pub(crate) urgent_reply: &'static str,
    /// Psychotropic or narcotic drugs an internet consultation must not prescribe.
    pub(crate) controlled: &'static [Drug],
    /// File names of photos patients send.
    pub(crate) attachments: &'static [&'static str],
}

/// Red-flag terms of psychiatry.
pub(crate) const PSYCHIATRY_TERMS: &[&str] = &["不想活了", "想自杀", "轻生"];
/// Red-flag terms of cardiology.
pub(crate) const CARDIOLOGY_TERMS: &[&str] = &["胸痛", "胸口压榨样疼痛", "呼吸困难"];
/// Red-flag terms of paediatrics.
pub(crate) const PEDIATRICS_TERMS: &[&str] = &["高烧不退", "抽搐"];
/// Red-flag terms of every other department.
pub(crate) const GENERAL_TERMS: &[&str] = &["昏迷", "大出血"];

const GENERAL_RED_FLAGS: &[&str] = &[
    "我父亲刚才突然昏迷了，怎么叫都叫不醒，嘴唇有点发紫。",
    "今天下午突然大出血，一直止不住，现在头晕得站不起来。",
];

const URGENT_REPLY: &str = "您描述的情况可能非常危急，线上问诊无法处理。请立即拨打120，或者马上到最近的医院急诊就诊，\
                            不要等待线上回复。本次问诊我会终止，并为您开具转诊。";

/// The departments, in the order sessions draw them.
pub(crate) const DEPARTMENTS: &[Department] = &[
    Department {
        code: "psychiatry",
        children: false,
        conditions: &[
            c(
                "抑郁发作",
                "F32.9",
                &[
                    d("盐酸舍曲林片", "rx", "50mg 每日1次 早饭后"),
                    d("草酸艾司西酞普兰片", "rx", "10mg 每日1次"),
                ],
            ),
            c(
                "广泛性焦虑障碍",
                "F41.1",
                &[
                    d("盐酸帕罗西汀片", "rx", "20mg 每日1次 早饭后"),
                    d("枸橼酸坦度螺酮胶囊", "rx", "10mg 每日3次"),
                ],
            ),
            c(
                "非器质性失眠症",
                "F51.0",
                &[d("盐酸曲唑酮片", "rx", "50mg 每晚睡前1次")],
            ),
            c(
                "双相情感障碍",
                "F31.9",
                &[
                    d("碳酸锂缓释片", "rx", "0.3g 每日2次"),
                    d("丙戊酸钠缓释片", "rx", "0.5g 每日2次"),
                ],
            ),
            c(
                "精神分裂症",
                "F20.9",
                &[
                    d("阿立哌唑片", "rx", "10mg 每日1次"),
                    d("利培酮片", "rx", "2mg 每日2次"),
                ],
            ),
        ],
        institutions: &[
            "北京大学第六医院",
            "首都医科大学附属北京安定医院",
            "上海市精神卫生中心",
        ],
        referrals: &["北京大学第六医院门诊", "首都医科大学附属北京安定医院门诊"],
        patient: &[
            "最近两周情绪又有点低落，做什么事都提不起兴趣。",
            "晚上入睡很困难，躺在床上一两个小时都睡不着，早上四五点就醒了。",
            "白天总觉得很累，注意力也不太集中，工作效率比以前低了很多。",
            "F41|心里经常莫名其妙地紧张，有时候心跳会突然加快，手心出汗。",
            "F32,F41|最近又开始反复担心一些小事，明知道没必要，但就是控制不住地去想。",
            "F31|前段时间有一阵特别兴奋，花钱也比较多，每天睡三四个小时也不觉得累。",
            "F20|最近偶尔还是会听到有人在说话的声音，不过比以前少多了。",
            "{drug}吃了三个多月了，感觉情绪比之前稳定一些，但还是时好时坏。",
            "吃药以后有点口干，胃口也比以前差了一点，体重倒是没怎么变。",
            "家里人说我最近话变少了，周末也不太愿意出门见朋友。",
            "上周单位里事情特别多，那几天情绪明显差一些，晚上也睡不好。",
            "想问一下{drug}能不能减量，我担心吃久了会有依赖。",
        ],
        doctor: &[
            "最近一周的睡眠、食欲和情绪怎么样？能不能具体说说？",
            "F51|现在一般几点上床？大概多久能睡着，夜里醒几次？",
            "情绪有一些波动是正常的，关键是看整体趋势有没有好转。",
            "{drug}是这类情况比较常用的药物，一般不会成瘾，但停药一定要在医生指导下逐步减量。",
            "口干、胃口差是这类药物常见的副作用，多数人在一个月左右会慢慢适应。",
            "F31|{drug}需要定期查血药浓度，平时多喝水，如果出现明显手抖、腹泻要及时告诉我。",
            "F20|坚持服药很重要，病情稳定以后也不要自行停药，否则容易复发。",
            "F51|睡前一小时不要看手机，床只用来睡觉，睡不着就起来做点安静的事，困了再回床上。",
            "建议您每天简单记录一下情绪和睡眠情况，下次复诊时我们一起看。",
            "除了按时吃药，适当的运动和规律的作息对改善情绪也很有帮助。",
            "F32,F41|如果有条件，可以同时配合心理咨询，效果通常会更好一些。",
            "目前不建议自行减药，病情稳定半年以上再考虑逐步减量。",
            "如果出现非常消极的想法，请一定及时告诉家人，并尽快到医院就诊。",
        ],
        red_flags: &[
            "最近真的觉得不想活了，晚上一个人的时候总在想这些事。",
            "这几天有时候会想自杀，我自己也很害怕这种念头。",
            "家里人很担心我会轻生，这几天一直不让我一个人待着。",
        ],
        terms: PSYCHIATRY_TERMS,
        urgent_reply: "您现在的状态让我很担心。请立即联系身边的家人或朋友陪着您，不要一个人待着，马上到最近医院的急诊\
                       或者精神专科医院就诊，也可以拨打心理援助热线。线上问诊无法保证您的安全，本次问诊我会终止，\
                       并为您办理转诊。",
        controlled: &[
            d("奥氮平片", "psychotropic", "5mg 每晚1次"),
            d("盐酸舍曲林片", "psychotropic", "50mg 每日1次"),
            d("艾司唑仑片", "psychotropic", "1mg 睡前服用"),
            d("阿普唑仑片", "psychotropic", "0.4mg 每日2次"),
        ],
        attachments: &["门诊病历.jpg", "心理测评报告.jpg"],
    },
    Department {
        code: "cardiology",
        children: false,
        conditions: &[
            c(
                "原发性高血压",
                "I10",
                &[
                    d("硝苯地平控释片", "rx", "30mg 每日1次"),
                    d("缬沙坦胶囊", "rx", "80mg 每日1次"),
                    d("苯磺酸氨氯地平片", "rx", "5mg 每日1次"),
                ],
            ),
            c(
                "冠状动脉粥样硬化性心脏病",
                "I25.1",
                &[
                    d("阿司匹林肠溶片", "rx", "100mg 每日1次"),
                    d("阿托伐他汀钙片", "rx", "20mg 每晚1次"),
                    d("单硝酸异山梨酯缓释片", "rx", "40mg 每日1次"),
                ],
            ),
            c(
                "心房颤动",
                "I48",
                &[
                    d("利伐沙班片", "rx", "20mg 每日1次 随餐"),
                    d("琥珀酸美托洛尔缓释片", "rx", "47.5mg 每日1次"),
                ],
            ),
            c(
                "慢性心力衰竭",
                "I50.9",
                &[
                    d("呋塞米片", "rx", "20mg 每日1次 早晨服用"),
                    d("螺内酯片", "rx", "20mg 每日1次"),
                ],
            ),
            c("高脂血症", "E78.5", &[d("瑞舒伐他汀钙片", "rx", "10mg 每晚1次")]),
        ],
        institutions: &[
            "首都医科大学附属北京安贞医院",
            "中国医学科学院阜外医院",
            "北京大学人民医院",
        ],
        referrals: &["中国医学科学院阜外医院门诊", "首都医科大学附属北京安贞医院门诊"],
        patient: &[
            "I10|最近早上量血压在145/95左右，下午会低一些，大概135/85。",
            "I10|天气冷了以后，血压好像波动比较大，有时候头也有点胀。",
            "I25,I50|偶尔会觉得胸闷，休息一会儿就好了，一般持续不到五分钟。",
            "I25,I50|爬楼梯的时候比以前容易累，走快了有点气短。",
            "I48|晚上有时候会心慌，感觉心跳不太规律，过一会儿自己就好了。",
            "I48|上次做的动态心电图报告说有阵发性房颤，平时倒没什么特别的感觉。",
            "I10,I50|最近脚踝有点肿，按下去会有个小坑，早上起来会好一些。",
            "E78,I25|上次查的血脂偏高，低密度脂蛋白是3.8，医生说要控制在2.6以下。",
            "E78|平时爱吃肉，做菜油也放得多，最近在慢慢改。",
            "{drug}一直在吃，每天早上定了闹钟，基本没有漏服过。",
            "我父亲也有高血压，六十多岁的时候做过心脏支架。",
            "想问一下{drug}需不需要换成别的药，或者再加一种？",
        ],
        doctor: &[
            "I10|您最近一周在家测的血压大概是多少？早晚各量过吗？",
            "I48,I50|心率一般在多少？有没有头晕、眼前发黑的情况？",
            "I10|血压控制的目标是130/80以下，目前还需要再调整一下。",
            "{drug}需要长期规律服用，指标好转了也不能自己停药。",
            "I10|建议每天早晚各测一次血压，把数值记录下来，复诊时发给我看。",
            "I10,I50|低盐饮食很重要，每天盐的摄入量最好控制在5克以内，少吃咸菜和腌制食品。",
            "I10|脚踝水肿可能和钙通道阻滞剂有关，我们可以先观察，必要时调整用药。",
            "I48|抗凝药要每天按时吃，如果有刷牙出血、皮肤瘀斑要留意，有的话及时告诉我。",
            "I50|每天早上空腹称一下体重，如果三天内增加超过两公斤，要及时复诊。",
            "E78,I25|他汀类药物建议晚上服用，如果出现明显的肌肉酸痛要告诉我。",
            "E78,I25|建议一个月后复查血脂、肝功能和心电图，结果出来后发给我看看。",
            "I25|如果胸闷持续不缓解超过十五分钟，或者伴有大汗、心慌，请立即拨打120。",
        ],
        red_flags: &[
            "今天早上突然胸痛，持续了二十多分钟还没缓解，左边胳膊也发麻。",
            "刚才胸口压榨样疼痛，还出了一身冷汗，现在还是很难受。",
            "现在稍微动一下就呼吸困难，晚上也躺不平，只能坐着睡。",
        ],
        terms: CARDIOLOGY_TERMS,
        urgent_reply: URGENT_REPLY,
        controlled: &[
            d("氨酚羟考酮片", "narcotic", "1片 疼痛时服用"),
            d("艾司唑仑片", "psychotropic", "1mg 睡前服用"),
        ],
        attachments: &["心电图.jpg", "血压记录.jpg", "血脂化验单.jpg"],
    },
    Department {
        code: "general",
        children: false,
        conditions: &[
            c(
                "急性上呼吸道感染",
                "J06.9",
                &[
                    d("布洛芬缓释胶囊", "otc", "0.3g 每日2次 发热时服用"),
                    d("连花清瘟胶囊", "otc", "4粒 每日3次"),
                ],
            ),
            c(
                "急性支气管炎",
                "J20.9",
                &[
                    d("阿莫西林胶囊", "antibiotic", "0.5g 每日3次"),
                    d("盐酸氨溴索口服溶液", "otc", "10ml 每日3次"),
                ],
            ),
            c(
                "慢性胃炎",
                "K29.5",
                &[
                    d("奥美拉唑肠溶胶囊", "rx", "20mg 每日1次 早饭前"),
                    d("铝碳酸镁咀嚼片", "otc", "1g 每日3次 饭后嚼服"),
                ],
            ),
            c(
                "胃食管反流病",
                "K21.9",
                &[
                    d("雷贝拉唑钠肠溶片", "rx", "10mg 每日1次 早饭前"),
                    d("枸橼酸莫沙必利片", "rx", "5mg 每日3次 饭前"),
                ],
            ),
            c(
                "腰肌劳损",
                "M54.5",
                &[
                    d("布洛芬缓释胶囊", "otc", "0.3g 每日2次 饭后"),
                    d("氟比洛芬凝胶贴膏", "otc", "1贴 每日2次 外用"),
                ],
            ),
        ],
        institutions: &["北京协和医院", "北京大学第一医院", "首都医科大学附属北京朝阳医院"],
        referrals: &["北京协和医院门诊", "首都医科大学附属北京朝阳医院门诊"],
        patient: &[
            "J06,J20|这几天嗓子疼，有点咳嗽，痰是黄色的，不太容易咳出来。",
            "J06,J20|前天开始发烧，最高到38.5度，吃了退烧药能降下来。",
            "J06|鼻塞流涕，头也有点昏昏沉沉的，浑身没劲。",
            "J20|晚上咳得比较厉害，影响睡觉，白天倒还好一些。",
            "J06,J20|办公室里好几个同事最近都感冒了，估计是被传染的。",
            "K29,K21|胃不太舒服，吃完饭以后胀得厉害，还经常反酸、打嗝。",
            "K21|晚上躺下以后烧心更明显，有时候嗓子里会返酸水。",
            "K29,K21|大便还算正常，就是胃口一般，吃一点就觉得饱了。",
            "M54|腰疼了有一段时间了，久坐以后更明显，早上起床的时候比较僵。",
            "M54|我平时是做办公室工作的，一坐就是一整天。",
            "{drug}上次吃了效果还可以，这次还想再开一些备着。",
        ],
        doctor: &[
            "J06,J20|有没有发烧？体温最高多少度？",
            "J20|咳嗽有痰吗？痰是什么颜色的？",
            "从您描述的情况看，考虑是{dx}，问题不算严重，不用太紧张。",
            "J06,J20|多喝温水，注意休息，饮食清淡一些，暂时不要剧烈运动。",
            "J06,J20|如果发烧超过三天还没有好转，或者出现其他新的症状，请及时到医院就诊。",
            "J06,J20,M54|{drug}按说明书服用即可，症状好转后可以停药。",
            "K29,K21|胃不舒服的话，要规律进餐，少吃生冷辛辣的食物，睡前两小时不要再吃东西。",
            "K29,K21|{drug}要在早饭前半小时服用，吃满疗程再评估，不要症状一好就停。",
            "M54|久坐的话每隔一小时起来活动一下，避免长时间弯腰或者搬重物。",
            "M54|可以每天做一做腰背肌的锻炼，比如小燕飞、平板支撑，循序渐进。",
        ],
        red_flags: GENERAL_RED_FLAGS,
        terms: GENERAL_TERMS,
        urgent_reply: URGENT_REPLY,
        controlled: &[
            d("盐酸曲马多缓释片", "psychotropic", "0.1g 每日2次"),
            d("复方磷酸可待因口服溶液", "narcotic", "10ml 每日3次"),
        ],
        attachments: &["血常规报告.jpg", "胃镜报告.jpg", "腰椎片子.jpg"],
    },
    Department {
        code: "pediatrics",
        children: true,
        conditions: &[
            c(
                "急性上呼吸道感染",
                "J06.9",
                &[
                    d("布洛芬混悬液", "otc", "5ml 体温超过38.5℃时服用"),
                    d("小儿氨酚黄那敏颗粒", "otc", "1袋 每日3次"),
                ],
            ),
            c(
                "小儿腹泻病",
                "K52.9",
                &[
                    d("蒙脱石散", "otc", "1袋 每日3次"),
                    d("口服补液盐散(Ⅲ)", "otc", "1袋 溶于250ml温水 少量多次"),
                ],
            ),
            c(
                "特应性皮炎",
                "L20.9",
                &[d("丁酸氢化可的松乳膏", "rx", "外用 每日2次")],
            ),
            c(
                "过敏性鼻炎",
                "J30.4",
                &[
                    d("糠酸莫米松鼻喷雾剂", "rx", "每侧鼻孔1喷 每日1次"),
                    d("氯雷他定糖浆", "otc", "5ml 每日1次"),
                ],
            ),
            c(
                "支气管哮喘",
                "J45.9",
                &[
                    d("吸入用布地奈德混悬液", "rx", "1mg 每日2次 雾化"),
                    d("孟鲁司特钠咀嚼片", "rx", "4mg 每晚1次"),
                ],
            ),
            c(
                "急性化脓性扁桃体炎",
                "J03.9",
                &[d(
                    "阿莫西林克拉维酸钾干混悬剂",
                    "antibiotic",
                    "按体重计算 每日2次",
                )],
            ),
        ],
        institutions: &[
            "首都医科大学附属北京儿童医院",
            "首都儿科研究所附属儿童医院",
            "复旦大学附属儿科医院",
        ],
        referrals: &[
            "首都医科大学附属北京儿童医院门诊",
            "首都儿科研究所附属儿童医院门诊",
        ],
        patient: &[
            "J06,J45,J03|孩子这两天有点咳嗽，晚上睡觉的时候咳得多一些。",
            "J06,J03|孩子昨晚体温38度，今天早上降到37.3度了。",
            "K52|宝宝昨天开始拉肚子，一天拉了五六次，是稀水样的。",
            "K52,J03|宝宝胃口不太好，这两天吃饭都比平时少了一半。",
            "L20|孩子脸上和身上起了一些红疹子，有点痒，总想去抓。",
            "L20|洗完澡给孩子涂了保湿霜，好像能好一点。",
            "J30,J45|孩子一到换季就容易打喷嚏、流鼻涕，晚上还会鼻塞。",
            "J45|孩子晚上偶尔会喘，跑跑跳跳以后更明显一些。",
            "{drug}上次医生开过，孩子用了效果挺好的。",
            "想问一下孩子的药量是按体重算的吗？他现在18公斤。",
            "孩子精神状态还可以，能吃能玩，就是晚上睡得不太踏实。",
            "孩子平时身体还可以，很少生病，这次可能是在幼儿园被传染的。",
            "孩子对头孢类的药物没有过敏史，之前打针也都没出过问题。",
            "家里老人总想给孩子多穿衣服，不知道这样对不对。",
            "我们离儿童医院比较远，挂号也很难，所以想先在线上问问。",
            "疫苗都是按时打的，最近一次是上个月打的。",
            "这个药孩子不太愿意吃，可以兑在果汁里喂吗？",
        ],
        doctor: &[
            "孩子现在精神状态怎么样？吃饭和玩耍都正常吗？",
            "孩子现在体重多少公斤？我需要按体重计算药量。",
            "K52|小便量怎么样？有没有明显减少？",
            "K52|腹泻期间注意补充水分，可以少量多次喂口服补液盐，防止脱水。",
            "J06,J03|体温超过38.5度可以用退烧药，两次之间至少间隔四到六个小时。",
            "L20|湿疹的孩子要注意保湿，洗澡水温不要太高，穿纯棉宽松的衣服。",
            "J30,J45|家里注意通风，少接触毛绒玩具和宠物，尘螨多的季节勤换床品。",
            "{drug}的用量我会按孩子的体重来开，请严格按照医嘱使用。",
            "药最好不要兑在果汁或者牛奶里，可以用少量温水送服，喂完再给点水喝。",
            "孩子穿衣服跟大人差不多就可以，摸后背温热不出汗就说明合适。",
            "如果孩子精神变差、反复呕吐或者尿量明显减少，要马上到儿童医院急诊。",
        ],
        red_flags: &[
            "孩子高烧不退已经三天了，吃了退烧药也只能降一会儿。",
            "孩子刚才抽搐了一次，眼睛往上翻，叫他也没反应，持续了一两分钟。",
        ],
        terms: PEDIATRICS_TERMS,
        urgent_reply: "孩子的情况需要马上到医院处理，线上问诊无法处理。请立即带孩子到最近的儿童医院或者综合医院急诊，\
                       路上注意让孩子侧躺、保持呼吸道通畅，必要时拨打120。本次问诊我会终止，并为孩子开具转诊。",
        controlled: &[
            d("复方磷酸可待因口服溶液", "narcotic", "5ml 每日3次"),
            d("苯巴比妥片", "psychotropic", "15mg 每日2次"),
        ],
        attachments: &["孩子皮疹照片.jpg", "血常规.jpg", "大便化验单.jpg"],
    },
    Department {
        code: "dermatology",
        children: false,
        conditions: &[
            c(
                "湿疹",
                "L30.9",
                &[
                    d("糠酸莫米松乳膏", "rx", "外用 每日1次"),
                    d("氯雷他定片", "otc", "10mg 每日1次"),
                ],
            ),
            c(
                "痤疮",
                "L70.0",
                &[
                    d("阿达帕林凝胶", "rx", "外用 每晚1次"),
                    d("克林霉素磷酸酯凝胶", "antibiotic", "外用 每日2次"),
                ],
            ),
            c(
                "荨麻疹",
                "L50.9",
                &[
                    d("盐酸西替利嗪片", "otc", "10mg 每日1次"),
                    d("依巴斯汀片", "rx", "10mg 每日1次"),
                ],
            ),
            c(
                "寻常型银屑病",
                "L40.0",
                &[d("卡泊三醇软膏", "rx", "外用 每日2次")],
            ),
            c("足癣", "B35.3", &[d("盐酸特比萘芬乳膏", "otc", "外用 每日2次")]),
        ],
        institutions: &["北京大学第一医院", "中国医学科学院皮肤病医院", "北京协和医院"],
        referrals: &["北京大学第一医院皮肤科门诊", "北京协和医院皮肤科门诊"],
        patient: &[
            "L30|手上起了一片红疹，很痒，晚上痒得睡不着觉。",
            "L30|皮疹的位置有些脱皮，抓破了还有点渗液。",
            "L70|脸上的痘痘反反复复，额头和下巴最多，有的还发红发肿。",
            "L70|最近熬夜比较多，感觉痘痘更明显了。",
            "L50|身上时不时起风团，一会儿就消了，但过一阵又起。",
            "L50|{drug}吃了以后好一些，但一停药风团又会起来。",
            "L40|胳膊肘和膝盖上有几块红斑，上面是白色的鳞屑，冬天更严重。",
            "B35|脚趾缝有点脱皮发痒，家里人好像也有类似的情况。",
            "L30,L50,B35|天气一热就加重，出汗以后更痒，洗完澡会好一点。",
            "L30,L70,L40,B35|{drug}涂了两周，感觉好了不少，但停了以后又有点反复。",
            "我发几张照片给您看一下现在的情况。",
        ],
        doctor: &[
            "L30,L50|皮疹是什么时候开始的？最近有没有接触什么新的护肤品或者洗涤剂？",
            "照片我看了，目前炎症比之前轻了一些，恢复得还不错。",
            "L30,L70,L40,B35|外用药薄薄地涂一层就可以，症状好转后再逐渐减少次数。",
            "L30,L50,L40|尽量不要搔抓，抓破了容易继发感染，也会留下色素沉着。",
            "L70|不要用手挤痘痘，容易留下痘印和痘坑。",
            "L70|日常护肤以温和保湿为主，避免频繁使用去角质类产品。",
            "L50|抗组胺药症状控制后不要马上停，一般需要逐渐减量，维持一段时间。",
            "B35|鞋袜要保持干燥透气，毛巾、拖鞋不要和家人混用。",
            "饮食上少吃辛辣刺激和高糖的食物，作息尽量规律。",
            "这类问题容易反复，需要坚持治疗一段时间，不要一好转就停药。",
            "如果皮疹面积迅速扩大或者出现发热，请到医院皮肤科面诊。",
        ],
        red_flags: GENERAL_RED_FLAGS,
        terms: GENERAL_TERMS,
        urgent_reply: URGENT_REPLY,
        controlled: &[
            d("艾司唑仑片", "psychotropic", "1mg 睡前服用"),
            d("盐酸曲马多缓释片", "psychotropic", "0.1g 每日2次"),
        ],
        attachments: &["皮损照片.jpg", "手部皮疹.jpg", "面部照片.jpg"],
    },
    Department {
        code: "endocrinology",
        children: false,
        conditions: &[
            c(
                "2型糖尿病",
                "E11.9",
                &[
                    d("二甲双胍缓释片", "rx", "0.5g 每日2次 随餐"),
                    d("阿卡波糖片", "rx", "50mg 每日3次 随第一口饭嚼服"),
                    d("格列美脲片", "rx", "2mg 每日1次 早餐前"),
                ],
            ),
            c(
                "甲状腺功能减退症",
                "E03.9",
                &[d("左甲状腺素钠片", "rx", "50μg 每日1次 早餐前空腹")],
            ),
            c(
                "甲状腺功能亢进症",
                "E05.9",
                &[d("甲巯咪唑片", "rx", "10mg 每日1次")],
            ),
            c("高尿酸血症", "E79.0", &[d("非布司他片", "rx", "20mg 每日1次")]),
            c(
                "骨质疏松症",
                "M81.9",
                &[
                    d("阿仑膦酸钠片", "rx", "70mg 每周1次 清晨空腹"),
                    d("碳酸钙D3片", "otc", "1片 每日1次"),
                ],
            ),
        ],
        institutions: &["北京协和医院", "中日友好医院", "上海交通大学医学院附属瑞金医院"],
        referrals: &["北京协和医院内分泌科门诊", "中日友好医院内分泌科门诊"],
        patient: &[
            "E11|最近空腹血糖在7.5左右，餐后两小时有时候到11。",
            "E11|上个月查的糖化血红蛋白是7.2%，比上次高了一点。",
            "E11|最近总是觉得口渴，晚上要起夜两三次。",
            "E11|{drug}一直在吃，偶尔会觉得肚子不太舒服，有点腹泻。",
            "E11,E05|体重这半年减了五斤，饮食也一直在控制。",
            "E03,E05|甲状腺的药吃了三个月了，最近复查的指标我发给您看看。",
            "E03|最近总觉得怕冷，没什么精神，脸也有点肿。",
            "E05|有时候手会有点抖，心跳也比较快，容易出汗。",
            "E79|脚趾关节前段时间疼过一次，医生说是尿酸偏高。",
            "E79|上周复查尿酸是520，比上次降了一些。",
            "E79|最近喝水比以前多了，啤酒和海鲜也基本不碰了。",
            "M81|上次测骨密度，医生说T值是-2.8，腰背有时候会酸痛。",
            "M81|前段时间弯腰搬东西的时候腰疼了好几天。",
            "M81|平时喝牛奶比较少，晒太阳的时间也不多。",
            "{drug}一直按时在吃，基本没有漏过。",
        ],
        doctor: &[
            "E11|最近一周空腹和餐后血糖大概是多少？有没有出现过心慌、出冷汗这种低血糖的表现？",
            "E11|糖化血红蛋白的控制目标一般在7%以下，您现在还需要再努力一下。",
            "E11|{drug}建议随餐服用，可以减轻胃肠道反应。",
            "E11|饮食上要控制总热量，主食定时定量，少吃甜食，不喝含糖饮料。",
            "E11|随身带几块糖，如果出现心慌、手抖、出冷汗，先测血糖再及时吃糖。",
            "E03|{drug}要早上空腹服用，和早饭间隔半小时以上，不要和钙片、豆浆同时吃。",
            "E05|服药期间要定期查血常规和肝功能，如果出现发热、咽痛要马上查血常规。",
            "E03,E05|甲状腺功能需要每一到两个月复查一次，根据结果调整剂量。",
            "E79|尿酸高的话要多喝水，少吃动物内脏和海鲜，尽量不喝啤酒。",
            "E79|{drug}刚开始吃的几个月可能诱发痛风发作，不要因此停药，疼得厉害的时候及时告诉我。",
            "E79|建议每天喝水两升以上，控制体重，三个月后复查尿酸和肾功能。",
            "M81|{drug}要清晨空腹用一大杯白开水送服，服药后半小时内不要躺下。",
            "M81|平时多晒太阳，适当补充钙和维生素D，家里注意防滑，防止跌倒。",
            "M81|建议一年后复查骨密度，评估一下治疗效果。",
            "建议每周至少运动五次，每次三十分钟左右，饭后散步就很好。",
        ],
        red_flags: &[
            "血糖低得厉害，刚才差点昏迷过去，现在还浑身发抖、出冷汗。",
            "我母亲今天突然昏迷了，家里测的血糖显示只有2.1。",
            "今天下午突然大出血，一直止不住，现在头晕得站不起来。",
        ],
        terms: GENERAL_TERMS,
        urgent_reply: URGENT_REPLY,
        controlled: &[
            d("艾司唑仑片", "psychotropic", "1mg 睡前服用"),
            d("氨酚羟考酮片", "narcotic", "1片 疼痛时服用"),
        ],
        attachments: &["血糖记录.jpg", "甲功化验单.jpg", "糖化血红蛋白报告.jpg"],
    },
];

/// Adult patients' sentences about their circumstances, for every department except paediatrics.
pub(crate) const GENERIC_PATIENT: &[&str] = &[
    "这种情况大概持续{dur}了，一直没有明显好转。",
    "最近工作压力比较大，经常加班到晚上十点以后，周末也休息不好。",
    "饮食上我已经尽量清淡了，很少吃油炸和辛辣的东西。",
    "平时基本不喝酒，烟前年已经戒了。",
    "最近睡眠一般，晚上容易醒两三次，醒了以后要好一会儿才能再睡着。",
    "我平时每天会快走半小时左右，不知道运动量够不够。",
    "我对磺胺类的药物过敏，这个之前跟医生说过。",
    "家里老人也有类似的毛病，不知道会不会遗传。",
    "我住得离医院比较远，来回一趟要大半天，所以想在线上看看。",
    "上个月单位体检的报告我拍照发给您看一下。",
    "上次开的药还剩一周左右的量，想问问要不要继续开。",
];

/// Adult patients' questions; they close a long message.
pub(crate) const PATIENT_QUESTIONS: &[&str] = &[
    "这个药需要长期吃吗？能不能慢慢减量？",
    "吃药期间有什么需要特别注意的吗？比如能不能喝茶、喝咖啡？",
    "有没有什么饮食方面需要忌口的？",
    "这个药饭前吃还是饭后吃比较好？我之前一直是饭后吃的。",
];

/// Doctors' sentences that open a long answer.
pub(crate) const DOCTOR_OPENERS: &[&str] = &[
    "收到，我先看一下您之前的病历和检查结果。",
    "根据您之前在{inst}的诊断和这次描述的情况，目前的治疗方向是对的。",
    "目前的情况总体比较平稳，不用太担心。",
    "您说的这个情况和药物的副作用可能有关系，一般服药一段时间后会逐渐减轻。",
];

/// Doctors' advice that fits every department; it follows the department's own sentences.
pub(crate) const GENERIC_DOCTOR: &[&str] = &[
    "这种情况持续{dur}的话，还是要重视起来，按时复诊。",
    "药物一定要按时按量服用，不要自行停药或者随意加减剂量。",
    "线上问诊有一定的局限，必要的时候还是需要到医院当面检查。",
    "如果服药后出现明显不适或者症状加重，请及时到线下医院就诊。",
    "建议两到四周后再来复诊，到时候把最新的检查结果一起发过来。",
];

/// Doctors' lifestyle advice for adults; it follows [`GENERIC_DOCTOR`].
pub(crate) const ADULT_DOCTOR: &[&str] = &[
    "注意规律作息，尽量不要熬夜，可以适当做一些有氧运动，比如快走、游泳。",
    "饮食上以清淡为主，少吃高盐、高油的食物，多吃新鲜蔬菜和水果。",
];

/// Short patient messages (thanks, acknowledgements).
pub(crate) const SHORT_PATIENT: &[&str] = &[
    "好的，谢谢医生，我会按时吃药的。",
    "明白了，那我先按这个方案试两周看看。",
    "嗯嗯，知道了，有情况我再来复诊。",
    "好的，麻烦医生帮忙看一下怎么处理，谢谢。",
    "谢谢您这么耐心，我心里踏实多了。",
    "那我下周去医院把指标再复查一下。",
    "好的，我都记下来了，谢谢您。",
];

/// Short doctor messages.
pub(crate) const SHORT_DOCTOR: &[&str] = &[
    "好的，我了解了，您稍等一下。",
    "收到，您说的情况我了解了，问题不大。",
    "您先别着急，我们一项一项来看。",
    "嗯，这个情况需要再观察一下。",
    "明白，您说的这些对判断很重要。",
    "这个问题我一会儿和用药一起跟您说。",
];

/// How a doctor's first message may begin.
pub(crate) const DOCTOR_GREETINGS: &[&str] =
    &["您好，我是今天的接诊医生。", "您好，收到您的问诊。", "您好，"];

/// Durations for `{dur}`.
pub(crate) const DURATIONS: &[&str] = &["三四天", "一周", "两周", "半个多月", "一个多月", "两三个月"];

/// Patients' answers after a red flag.
pub(crate) const RED_FLAG_ACKS: &[&str] = &[
    "好的，我们现在马上去医院。",
    "好的，我这就让家里人陪着去急诊。",
    "知道了，已经在打120了。",
];

/// Pharmacists who review prescriptions.
pub(crate) const PHARMACISTS: &[&str] = &["王敏", "李静", "张伟", "刘洋", "陈晨", "杨帆"];

/// Qualifiers appended to a diagnosis.
pub(crate) const DIAGNOSIS_QUALIFIERS: &[&str] = &[
    "",
    "，病情稳定",
    "，病情控制欠佳，调整治疗方案",
    "，继续原方案治疗",
    "，较前好转",
];

/// Address codes (administrative divisions) for resident ID numbers.
pub(crate) const REGIONS: &[&str] = &[
    "110101", "110105", "110108", "310104", "310115", "440106", "440305", "330106", "510107", "420106",
    "320102", "370102", "610113", "120101",
];

/// `sentence` without its `CODES|` prefix if it applies to the condition coded `icd10`, `None` if not.
pub(crate) fn for_condition(sentence: &'static str, icd10: &str) -> Option<&'static str> {
    match sentence.split_once('|') {
        Some((codes, text)) => codes
            .split(',')
            .any(|code| icd10.starts_with(code))
            .then_some(text),
        None => Some(sentence),
    }
}

/// The department named `code`, if any.
pub(crate) fn department(code: &str) -> Option<&'static Department> {
    DEPARTMENTS.iter().find(|dep| dep.code == code)
}

/// A drug of the bank by name (conditions first, then controlled lists).
pub(crate) fn drug(name: &str) -> Option<&'static Drug> {
    let treatments = DEPARTMENTS
        .iter()
        .flat_map(|dep| dep.conditions.iter().flat_map(|c| c.drugs));
    let controlled = DEPARTMENTS.iter().flat_map(|dep| dep.controlled);
    treatments.chain(controlled).find(|drug| drug.name == name)
}
